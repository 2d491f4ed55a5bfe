"""Chat-ops: Slack requests, acknowledged by the chatops function, wait on a queue for it.

The HTTP endpoints must answer Slack within 3 seconds; the work (incident lookups, status page
publishing) can take longer, so it runs from this encrypted, TLS-only queue. The same function
consumes it with partial batch responses; a job that keeps failing lands in the dead-letter
queue after MAX_RECEIVES (handlers/chatops.py answers the user on the last attempt).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct
from tocsin.handlers.chatops import MAX_RECEIVES
from tocsin.settings import ENV_CHATOPS_QUEUE

from infra.events import consumer_queues


class ChatOpsQueue(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.Function) -> None:
        super().__init__(scope, construct_id)
        # a response_url works for 30 minutes: a job older than that cannot answer
        self.queue, self.dead_letters = consumer_queues(
            self, function, MAX_RECEIVES, retention=Duration.minutes(30)
        )
        self.queue.grant_send_messages(function)
        function.add_environment(ENV_CHATOPS_QUEUE, self.queue.queue_url)
        function.add_event_source(
            sources.SqsEventSource(
                self.queue, batch_size=1, report_batch_item_failures=True, max_concurrency=5
            )
        )
