"""What operators do to messages, the same for ``pacer messages`` and the dashboard:
replay them from the journal, and purge their dead letters. Every action is recorded in
the journal with who did it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kombu import Connection, Producer

from pacer_celery import deadletters
from pacer_celery.journal import Journal
from pacer_celery.redispatch import Outcome, dispatch_again
from pacer_celery.settings import Settings

Progress = Callable[[int], None]


def replay(
    journal: Journal,
    settings: Settings,
    message_ids: Iterable[str],
    actor: str,
    *,
    dry_run: bool = False,
    progress: Progress = lambda _: None,
) -> list[Outcome]:
    """Re-validate each message from the journal and dispatch it again.

    A replayed message's dead letter leaves ``pacer.dlq`` (the message is on its way
    again); one still invalid stays where it is, with the reason in the outcome.
    """
    outcomes: list[Outcome] = []
    replayed_letters: set[str] = set()
    with Connection(settings.broker(), transport_options={"confirm_publish": True}) as connection:
        producer = Producer(connection)
        for done, message_id in enumerate(message_ids, 1):
            record = journal.load(message_id)
            if record is None:
                outcomes.append(Outcome(message_id, "not found", "no such message in the journal"))
            else:
                outcome = dispatch_again(journal, record, producer, actor=actor, dry_run=dry_run)
                outcomes.append(outcome)
                if outcome.action == "still invalid" and not dry_run:
                    journal.record_action(actor, "replay refused", message_id, {"reason": outcome.detail})
                if outcome.action == "replayed" and record.dead_letter_id:
                    replayed_letters.add(record.dead_letter_id)
            progress(done)
        if replayed_letters:
            for _ in deadletters.purge(connection, lambda letter: letter.id in replayed_letters):
                pass
    return outcomes


def purge_dead_letters(
    journal: Journal, settings: Settings, letter_ids: set[str], actor: str, *, dry_run: bool = False
) -> list[deadletters.Outcome]:
    """Delete these dead letters from ``pacer.dlq`` for good; the journal keeps the
    message's history, and who purged it."""
    with Connection(settings.broker(), transport_options={"confirm_publish": True}) as connection:
        outcomes = list(deadletters.purge(connection, lambda letter: letter.id in letter_ids, dry_run=dry_run))
    if not dry_run:
        for outcome in outcomes:
            journal.record_action(actor, "purge", outcome.letter.message_id, {"dead_letter": outcome.letter.id})
    return outcomes
