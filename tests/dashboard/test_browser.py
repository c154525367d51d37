"""The dashboard in a real browser: find a message, follow its steps, replay and purge
dead letters, and hostile message text that stays text."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from pacer_celery.journal import journal, search
from tests.core.conftest import letters_of_run, records, send, wait_for
from tests.dashboard.conftest import FLOWER
from tests.support import probe


def journaled(query: str) -> list[search.Row]:
    with journal().engine.connect() as connection:
        return search.search(connection, search.parse(query))


def settled(query: str, status: str) -> search.Row:
    (row,) = wait_for(lambda: [r for r in journaled(query) if r.status == status], what=f"{query} {status}")
    return row


def texts(browser, selector: str) -> list[str]:
    return [element.text for element in browser.find_elements(By.CSS_SELECTOR, selector)]


def follow(browser, go) -> None:
    """Submit a form or click a link, and return once the browser shows the next page:
    neither waits for it, and the old page's elements would answer in the meantime."""
    old = browser.find_element(By.TAG_NAME, "html")
    go()
    WebDriverWait(browser, 30).until(expected_conditions.staleness_of(old))


def outcomes(browser) -> list[str]:
    """The outcomes page a confirmed replay or purge leads to, once the browser shows it
    (a click that submits a form does not wait for the next page)."""
    WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, "table.outcomes td.outcome"))
    return texts(browser, "table.outcomes td.outcome")


def test_search_by_an_identifier_then_follow_the_message_step_by_step(dashboard, browser, bridges, broker, run):
    send(broker, {"run": run, "item": "walk"})
    send(broker, {"run": run, "item": "other"})
    row = settled(f"run={run} probe=walk", "done")
    settled(f"run={run} probe=other", "done")

    browser.get(dashboard.url + "/")
    box = browser.find_element(By.CSS_SELECTOR, "header input[name=q]")
    box.send_keys(f"probe=walk run={run}")
    follow(browser, box.submit)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.rows tbody tr")
    assert len(rows) == 1, browser.page_source
    assert "probe" in rows[0].text and "probe=walk" in rows[0].text and "done" in rows[0].text

    follow(browser, rows[0].find_element(By.CSS_SELECTOR, "td.when a").click)
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("probe")
    assert row.message_id in browser.find_element(By.CSS_SELECTOR, "dl.facts").text
    assert texts(browser, "ol.timeline li.step .name") == ["probe.first", "probe.second", "probe.third"]
    milestones = texts(browser, "ol.timeline li.milestone .name")
    assert milestones[0] == "received" and milestones[1].startswith("dispatched") and milestones[-1] == "done"
    # What each step did (its result), and where its task is in Flower.
    assert "step=first" in browser.find_element(By.CSS_SELECTOR, "ol.timeline li.step").text
    with journal().engine.connect() as connection:
        task_ids = [s.task_id for s in search.timeline(connection, row.message_id).steps]
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "ol.timeline a.task")]
    assert links == [f"{FLOWER}/task/{task_id}" for task_id in task_ids]


def test_a_dead_letter_replayed_after_its_cause_is_fixed_lands(dashboard, browser, bridges, broker, run):
    probe.store().set(f"{run}:broken", 1)
    send(broker, {"run": run, "item": "d", "faults": {"second": "until-fixed"}})
    (letter,) = wait_for(lambda: letters_of_run(broker, run), what="the dead letter")
    row = settled(f"run={run}", "dead-lettered")

    browser.get(f"{dashboard.url}/dead-letters?q=run%3D{run}")
    (listed,) = browser.find_elements(By.CSS_SELECTOR, "table.rows tbody tr")
    assert "probe.second: second refused d" in listed.text

    probe.store().delete(f"{run}:broken")  # the cause, fixed
    listed.find_element(By.CSS_SELECTOR, "button.replay").click()
    count = WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".confirm strong.count"))
    assert count[0].text == "1"
    browser.find_element(By.CSS_SELECTOR, ".confirm button.replay").click()
    assert outcomes(browser) == ["replayed"]

    wait_for(lambda: len(records(run, "d")["effects"]) == 3, what="the replayed chain")
    settled(f"run={run}", "done")
    assert letters_of_run(broker, run) == []
    browser.get(f"{dashboard.url}/message?id={row.message_id}")
    assert browser.find_element(By.CSS_SELECTOR, "h1 .status").text == "done"
    actions = texts(browser, "ol.timeline li.action")
    assert len(actions) == 1 and "replay by dashboard:ops" in actions[0]
    # The failed run and the replayed one, in the order they happened.
    steps = texts(browser, "ol.timeline li.step .name")
    assert steps == ["probe.first", "probe.second", "probe.first", "probe.second", "probe.third"]
    assert letter.id not in browser.find_element(By.CSS_SELECTOR, "dl.facts").text


def test_purging_a_whole_search_result_names_how_many_first(dashboard, browser, bridges, broker, run):
    for item in ("p1", "p2"):
        send(broker, {"run": run, "item": item, "faults": {"first": "permanent"}})
    wait_for(lambda: len(letters_of_run(broker, run)) == 2, what="two dead letters")
    send(broker, {"run": run, "item": "fine"})
    settled(f"run={run} probe=fine", "done")

    browser.get(f"{dashboard.url}/dead-letters?q=run%3D{run}")
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.rows tbody tr")) == 2
    browser.find_element(By.CSS_SELECTOR, ".bulk button.purge").click()
    # (The click submits a form: the confirmation is the next page, once it has loaded.)
    count = WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".confirm strong.count"))
    assert count[0].text == "2"
    assert letters_of_run(broker, run) != []  # asking changed nothing
    browser.find_element(By.CSS_SELECTOR, ".confirm button.purge").click()
    assert outcomes(browser) == ["purged", "purged"]
    assert letters_of_run(broker, run) == []

    browser.get(f"{dashboard.url}/dead-letters?q=run%3D{run}")
    assert browser.find_elements(By.CSS_SELECTOR, "table.rows tbody tr") == []
    browser.get(f"{dashboard.url}/dead-letters?q=run%3D{run}&purged=1")
    rows = texts(browser, "table.rows tbody tr")
    assert len(rows) == 2 and all("purged by dashboard:ops" in r for r in rows)


def test_hostile_message_text_is_shown_as_text(dashboard, browser, bridges, broker, run):
    hostile = '<script>document.title="owned"</script><img src=x onerror=alert(1)>\u202eevil'
    send(broker, {"run": run, "item": hostile})
    row = settled(f"run={run}", "done")

    browser.get(f"{dashboard.url}/message?id={row.message_id}&body=1")
    assert browser.title.endswith("PACER dashboard")
    assert browser.find_elements(By.CSS_SELECTOR, "main script, main img") == []
    identifiers = browser.find_element(By.CSS_SELECTOR, "dl.facts").text
    assert '<script>document.title="owned"</script>' in identifiers and "<U+202E>evil" in identifiers
    assert "<img src=x onerror=alert(1)>" in browser.find_element(By.CSS_SELECTOR, "pre.body").text


def test_the_overview_counts_messages_and_shows_the_queues(dashboard, browser, bridges, broker, run):
    send(broker, {"run": run, "item": "count"})
    settled(f"run={run}", "done")
    browser.get(dashboard.url + "/")
    hour = browser.find_elements(By.CSS_SELECTOR, ".card")[0]
    assert "Messages received in the last hour" in hour.text
    probe_row = [r for r in texts(browser, ".card:first-child tbody tr") if r.startswith("probe ")]
    assert probe_row, hour.text
    queues = {r.split()[0]: r for r in texts(browser, ".card:last-child tbody tr")}
    for queue in ("pacer.probe", "pacer.probe-collecting", "pacer.tasks", "pacer.tasks.rejected", "pacer.dlq"):
        assert queue in queues, queues
    assert queues["pacer.probe"].split()[1:] == ["0", "1"]  # nothing waiting, the bridge consuming
