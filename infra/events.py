"""Event sources: AWS alarm and health events through SQS, the sweeper's one-minute schedule,
the hourly EventBridge Scheduler schedule that reminds owners of overdue action items, and the
table's stream that starts each new incident's response workflow (the incidents' outbox).

Events reach the intake function through a queue rather than directly: SQS gives retries with
per-record failure reporting, a dead-letter queue, and a path the local mode can drive (moto's
EventBridge delivers to SQS but not to Lambda).
"""

from __future__ import annotations

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from tocsin.domain.action_items import Reminders
from tocsin.handlers.sweeper import REMINDERS_TASK
from tocsin.routes import EVENT_RULES, NEW_INCIDENT_FILTER

from infra.nag import acknowledge, acknowledge_wildcard_resource

MAX_RECEIVES = 5
SWEEP_INTERVAL = Duration.minutes(1)


def consumer_queues(
    scope: Construct,
    consumer: lambda_.Function,
    max_receives: int,
    retention: Duration | None = None,
) -> tuple[sqs.Queue, sqs.Queue]:
    """(queue, dead-letter queue) for a Lambda consumer: both encrypted and TLS-only, the
    queue's visibility six times the consumer's timeout (AWS guidance), a message moved to
    the dead letters after `max_receives`. The AWS events and chat-ops queues are made here."""
    dead_letters = sqs.Queue(
        scope,
        "DeadLetterQueue",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    queue = sqs.Queue(
        scope,
        "Queue",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        visibility_timeout=Duration.seconds(6 * _timeout_seconds(consumer)),
        retention_period=retention,
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=max_receives),
    )
    return queue, dead_letters


class AwsEventIntake(Construct):
    """Rules -> encrypted, TLS-only queue (with a DLQ) -> the eventbridge_intake function."""

    def __init__(self, scope: Construct, construct_id: str, *, consumer: lambda_.Function) -> None:
        super().__init__(scope, construct_id)
        self.queue, self.dead_letters = consumer_queues(self, consumer, MAX_RECEIVES)
        # the same rules the local mode provisions (tocsin.routes.EVENT_RULES)
        for name, pattern in EVENT_RULES.items():
            events.Rule(
                self,
                "".join(part.capitalize() for part in name.split("-")),
                description=f"{', '.join(pattern['detail-type'])} events become Tocsin alerts",
                event_pattern=events.EventPattern(
                    source=pattern["source"], detail_type=pattern["detail-type"]
                ),
                targets=[targets.SqsQueue(self.queue, dead_letter_queue=self.dead_letters)],
            )
        consumer.add_event_source(
            sources.SqsEventSource(
                self.queue, batch_size=10, report_batch_item_failures=True, max_concurrency=5
            )
        )


class IncidentOutbox(Construct):
    """The table's stream -> the incident_stream function, which starts the response workflow
    of each new incident (named after it: a retry starts nothing twice). Lambda's event
    filtering passes only inserts of incident records, so the function runs once per
    incident, not once per write. A batch that fails is retried from its first failed
    record (partial batch responses), split in halves to isolate a bad record, for up to
    RETRIES attempts or MAX_AGE; what still fails is described in the dead-letter queue, and
    the sweeper starts the workflow of any incident left without one
    (IncidentService.finalize_if_stalled)."""

    RETRIES = 10
    MAX_AGE = Duration.hours(1)

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        starter: lambda_.Function,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.dead_letters,
            "SQS3",
            "This queue is itself the failure destination of the stream's event source "
            "mapping (records that outlived their retries are described here).",
        )
        starter.add_event_source(
            sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.LATEST,
                batch_size=10,
                retry_attempts=self.RETRIES,
                max_record_age=self.MAX_AGE,
                bisect_batch_on_error=True,
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(self.dead_letters),
                filters=[lambda_.FilterCriteria.filter(NEW_INCIDENT_FILTER)],
            )
        )


class SweeperSchedule(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, sweeper: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description="Runs the Tocsin sweeper every minute",
            schedule=events.Schedule.rate(SWEEP_INTERVAL),
            targets=[targets.LambdaFunction(sweeper, retry_attempts=0)],
        )


class ActionItemReminders(Construct):
    """Every hour on the hour in the reminders' time zone (EventBridge Scheduler: rules have
    no time zone), the sweeper reminds owners of overdue action items; it sends each owner one
    message a day, from `reminders.at`, and a later run retries a failed one."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        sweeper: lambda_.IFunction,
        reminders: Reminders,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
            description="EventBridge Scheduler invokes the Tocsin sweeper (action item reminders)",
        )
        acknowledge_wildcard_resource(
            self.role,
            f"{sweeper.function_arn}:*",
            "Lambda's grantInvoke also covers the sweeper's versions and aliases (<arn>:*); "
            "the role can invoke the sweeper and nothing else",
        )
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description="Reminds owners of overdue Tocsin action items",
            schedule=scheduler.ScheduleExpression.cron(
                minute="0", time_zone=TimeZone.of(reminders.timezone)
            ),
            target=scheduler_targets.LambdaInvoke(
                sweeper,
                input=scheduler.ScheduleTargetInput.from_object({"task": REMINDERS_TASK}),
                retry_attempts=2,
                max_event_age=Duration.hours(1),
                role=self.role,
            ),
            enabled=reminders.enabled,
        )


def _timeout_seconds(function: lambda_.Function) -> int:
    return int(function.timeout.to_seconds()) if function.timeout else 3  # Lambda's default
