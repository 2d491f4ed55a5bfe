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
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from tocsin.handlers.chatops import MAX_RECEIVES
from tocsin.settings import ENV_CHATOPS_QUEUE


class ChatOpsQueue(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.Function) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        timeout = int(function.timeout.to_seconds()) if function.timeout else 3
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # AWS guidance: at least six times the consumer's timeout
            visibility_timeout=Duration.seconds(6 * timeout),
            # a response_url works for 30 minutes: a job older than that cannot answer
            retention_period=Duration.minutes(30),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letters, max_receive_count=MAX_RECEIVES
            ),
        )
        self.queue.grant_send_messages(function)
        function.add_environment(ENV_CHATOPS_QUEUE, self.queue.queue_url)
        function.add_event_source(
            sources.SqsEventSource(
                self.queue, batch_size=1, report_batch_item_failures=True, max_concurrency=5
            )
        )
