"""Celery's settings for PACER, derived from the environment (see pacer_celery.settings).

Every choice here serves the no-loss rule or the dashboard; see architecture.md.
"""

from pacer_celery import topology
from pacer_celery.settings import get_settings

_settings = get_settings()

# What a worker imports at start: its start-up hooks, PACER's steps, and the facility's
# own message types (whose steps register themselves when imported).
include = ["pacer_celery.worker.process", "pacer_celery.tasks", *_settings.bridge_module_names()]

broker_url = _settings.broker()
# Publisher confirms: apply_async returns only once RabbitMQ has the task message.
broker_transport_options = {"confirm_publish": True}
broker_connection_retry_on_startup = True
# Steps store no results (they are in the journal, and Flower reads events): the backend
# is there for Celery's own tools and a facility's other tasks.
result_backend = _settings.result_backend.get_secret_value()
result_expires = 24 * 3600

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]

task_default_queue = topology.TASK_QUEUE
task_queues = (topology.task_queue(),)
task_create_missing_queues = False

# A task message is acked only when its task has finished: a worker dying mid-step leaves
# it unacked and RabbitMQ hands it to another worker. Tasks are idempotent for this.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = _settings.worker_prefetch_multiplier

# The dashboard: Flower sees every task from sent to done. The worker sends its events
# without waiting for the broker's confirm of each (see pacer_celery/worker/consumer.py).
worker_consumer = "pacer_celery.worker.consumer:Consumer"
worker_send_task_events = True
task_send_sent_event = True
task_track_started = True

