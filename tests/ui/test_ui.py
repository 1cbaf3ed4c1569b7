"""The Dagster UI as a user sees it, driven in headless Chromium against a private `movielens-dag dev`.

The server starts once for the module over an instance where `demo_job` already ran (a 600-movie cut of
the bundled release, so it takes a minute or two); each test opens a fresh browser context.
Screenshots of every step: tests/ui/artifacts/ (see conftest.py).
"""

import re
import time

import httpx
import pytest

from movielens_dag.definitions import defs
from tests.ui import browser

browser.require()  # before importing Playwright: skip without a browser, fail in CI
from playwright.sync_api import Locator, Page, expect  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

GROUPS = {
    "movielens",
    "enrichment",
    "documents",
    "embeddings",
    "semantic_ids",
    "search",
    "publish",
    "recommender",
    "rating_model",
}
RUN_TIMEOUT_MS = 600_000  # a run launched from the UI, queued, started in its own processes, on 2 busy cores
# Small enough to train in seconds; the recommender reads semantic_ids and user_sequences (demo_job made them).
PARTITION = "hstu-prefixn_id-sum-l1"
TINY_TRAINING = "ops: {recommender_runs: {config: {seeds: 1, train: {max_epochs: 1}, encoder: {dim: 8}}}}"
HUMAN_SIZE = re.compile(r"^\d+(\.\d+)? (B|KiB|MiB|GiB|TiB)$")


def asset_graph():
    return defs.resolve_asset_graph()


def checks_of(asset: str) -> set[str]:
    return {key.name for key in asset_graph().get_check_keys_for_assets({dg_key(asset)})}


def dg_key(asset: str):
    import dagster as dg

    return dg.AssetKey(asset)


def metadata_row(page: Page, key: str) -> Locator:
    """The row of the asset page's metadata table (Key | Timestamp | Value) whose key is exactly ``key``."""
    table = page.locator("table").filter(has=page.locator("thead").get_by_text("Timestamp", exact=True)).first
    cell = page.locator("td:first-child").filter(has_text=re.compile(rf"^\s*{re.escape(key)}\s*$"))
    return table.locator("tr").filter(has=cell).first


def materialize_button(page: Page) -> Locator:
    # "Materialize" (or "Materialize…" for a partitioned asset); its accessible name may start with an icon
    return page.get_by_role("button", name=re.compile(r"(^|\s)Materialize…?$"))


def open_launched_run(page: Page) -> str:
    """Follow the "Launched run <id>  View" toast to the run's page; returns the run id."""
    expect(page.get_by_text(re.compile(r"^Launched run [0-9a-f]{8}$"))).to_be_visible()
    view = page.get_by_role("link", name="View", exact=True).first
    run_id = view.get_attribute("href").rsplit("/", 1)[-1]
    view.click()
    expect(page).to_have_url(re.compile(rf"/runs/{run_id}"))
    return run_id


def wait_for_run_end(page: Page) -> str:
    status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
    status.wait_for(timeout=RUN_TIMEOUT_MS)
    return status.inner_text().strip()


def expect_image_loaded(page: Page, img: Locator) -> None:
    img.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())


def test_asset_graph_shows_every_group_and_no_welcome_modal(page, ui, shots):
    assert {asset_graph().get(k).group_name for k in asset_graph().get_all_asset_keys()} == GROUPS
    page.goto("/asset-groups")
    graph = page.locator("svg, [class*=Graph]").first
    expect(graph).to_be_visible()
    for group in sorted(GROUPS):
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    page.wait_for_timeout(3000)  # the first-visit modal, when enabled, shows once the page has settled
    expect(page.get_by_text("Join the Dagster community")).to_have_count(0)
    expect(page.get_by_role("dialog")).to_have_count(0)
    shots.take(page, "asset-graph")


def test_semantic_ids_checks_passed_and_figures_render_as_a_table(page, ui, shots):
    expected = checks_of("semantic_ids")
    assert len(expected) >= 3
    page.goto("/assets/semantic_ids?view=checks")
    expect(page.get_by_text(f"Checks ({len(expected)})")).to_be_visible()
    for check in sorted(expected):  # long names show middle-truncated; the full one is in the DOM
        item = page.locator("div").filter(has=page.get_by_text(check, exact=True)).filter(has_text="Succeeded")
        expect(item.last).to_be_visible()
    expect(page.get_by_text("Succeeded", exact=True)).to_have_count(len(expected))
    expect(page.get_by_text(re.compile(r"^(Failed|Execution failed)$"))).to_have_count(0)
    shots.take(page, "semantic_ids-checks")

    page.goto("/assets/semantic_ids")
    figures = metadata_row(page, "figures")
    table = figures.locator("table")
    expect(table).to_be_visible()
    expect(table.locator("th").filter(has_text="collisions")).to_have_count(1)
    expect(table.locator("tbody tr")).to_have_count(1)  # one fit, no compare variants
    assert "|" not in figures.inner_text(), "figures shows raw markdown pipes"
    expect(figures.get_by_role("button", name=re.compile("Markdown", re.I))).to_have_count(0)
    figures.scroll_into_view_if_needed()
    shots.take(page, "semantic_ids-figures")


def test_sid_map_plot_is_shown_inline_and_the_interactive_map_opens(page, ui, shots):
    page.goto("/assets/sid_map")
    row = metadata_row(page, "map")
    img = row.locator("img")
    expect(img).to_have_attribute("src", f"{ui.artifacts_url}/semantic_ids/sid_map.png")
    expect_image_loaded(page, img)
    expect(row.get_by_role("button", name=re.compile("Markdown", re.I))).to_have_count(0)
    link = metadata_row(page, "interactive_map").locator("a").first
    href = link.get_attribute("href")
    assert href == f"{ui.artifacts_url}/semantic_ids/sid_map.html"
    response = httpx.get(href, timeout=30)
    assert response.status_code == 200 and "plotly" in response.text.lower()
    shots.take(page, "sid_map-plot")

    page.goto("/assets/sid_quality")
    figures = metadata_row(page, "figures")
    expect(figures.locator("table th").filter(has_text="collisions")).to_have_count(1)
    assert "|" not in figures.inner_text(), "sid_quality figures shows raw markdown pipes"
    figures.scroll_into_view_if_needed()
    shots.take(page, "sid_quality-figures")


def test_launch_a_recommender_partition_from_the_partition_picker(page, ui, shots):
    page.goto("/assets/recommender_runs")
    materialize_button(page).click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize recommender_runs")
    expect(dialog).to_be_visible()
    dialog.get_by_text("Select a partition or create one").click()
    page.keyboard.type(PARTITION)
    page.locator("li").filter(has_text=PARTITION).filter(has_not_text="Select all").first.click()
    page.keyboard.press("Escape")  # closes the picker, not the dialog
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    shots.take(page, "recommender-partition-picked")

    dialog.get_by_text("Config", exact=True).click()
    dialog.get_by_role("button", name="Add config").click()
    editor = page.get_by_role("dialog").filter(has_text="Config Editor")
    editor.locator(".CodeMirror").click()
    page.keyboard.insert_text(TINY_TRAINING)  # typed as one flow-style line: no editor auto-indent involved
    expect(editor.get_by_text("No errors")).to_be_visible()
    shots.take(page, "recommender-config")
    editor.get_by_role("button", name="Save config").click()

    launch = dialog.get_by_role("button", name="Launch 1 run")
    expect(launch).to_be_enabled()
    launch.click()
    open_launched_run(page)
    shots.take(page, "recommender-run-started")
    assert wait_for_run_end(page) == "Success"
    shots.take(page, "recommender-run-succeeded")

    page.goto("/assets/recommender_runs")
    curve = metadata_row(page, "validation_curve").locator("img")
    src = re.compile(re.escape(ui.artifacts_url) + rf"/.*/leave_one_out-{PARTITION}-valid-curve\.png$")
    expect(curve).to_have_attribute("src", src)
    expect_image_loaded(page, curve)
    expect(metadata_row(page, "config")).to_contain_text('"dim": 8')  # the config typed in the launch dialog
    shots.take(page, "recommender-validation-curve")


def test_materialize_movies_from_its_page(page, ui, shots):
    page.goto("/assets/movies")
    materialize_button(page).click()
    shots.take(page, "movies-launched")
    open_launched_run(page)
    assert wait_for_run_end(page) == "Success"
    expect(page.get_by_text("movies", exact=True).first).to_be_visible()
    shots.take(page, "movies-run-succeeded")


def test_what_a_daily_user_sees_runs_descriptions_sizes_and_a_quiet_console(page, ui, shots):
    page.goto("/runs")
    expect(page.get_by_role("link", name="demo_job").first).to_be_visible()
    text = page.inner_text("body")
    assert "__ephemeral_asset_job__" not in text and "__ASSET_JOB" not in text
    shots.take(page, "runs")

    # descriptions are markdown: `code` shows as code, never as backticks
    with_code = {
        k.to_user_string(): re.findall(r"`([^`]+)`", asset_graph().get(k).description or "")
        for k in asset_graph().get_all_asset_keys()
    }
    with_code = {asset: spans for asset, spans in sorted(with_code.items()) if spans}
    assert with_code, "no description uses inline code any more: pick other assets to check"
    for asset, spans in with_code.items():
        page.goto(f"/assets/{asset}")
        expect(page.locator("code").filter(has_text=spans[0]).first).to_be_visible()
        for span in spans:
            expect(page.get_by_text(f"`{span}`")).to_have_count(0)
    shots.take(page, f"description-{asset}")

    page.goto("/assets/movies")
    size = metadata_row(page, "size").locator("td").last
    expect(size).to_have_text(HUMAN_SIZE)

    log = ui.log.read_text(errors="replace")
    assert "Checking for new runs for sensor" not in log, "the daemon logs every sensor tick"
    assert "auto-materialization tick" not in log, "the daemon logs every automation tick"
    assert "active virtual environment does not match" not in log


def columns_table(page: Page) -> Locator:
    return page.locator("table").filter(has=page.get_by_text("Column name", exact=True)).first


@pytest.mark.parametrize(
    "asset",
    [
        "movies",
        "semantic_ids",
        "recommender_runs",  # its variant column once read <model>-..., which markdown took for HTML tags
    ],
)
def test_column_descriptions_render_as_written(page, ui, shots, asset):
    schema = asset_graph().get(dg_key(asset)).metadata["dagster/column_schema"]
    page.goto(f"/assets/{asset}")
    table = columns_table(page)
    expect(table).to_be_visible()
    # the table can render before the page has all its data (a busy box): read it until it settles
    deadline = time.monotonic() + 30
    while True:
        shown = dict(
            table.evaluate(
                "t => Array.from(t.querySelectorAll('tbody tr')).map(r => [r.cells[0].innerText.trim(),"
                " r.cells[r.cells.length - 1].innerText.trim()])"
            )
        )
        wrong = {
            c.name: (c.description, shown.get(c.name))
            for c in schema.columns
            if shown.get(c.name) != (c.description or "")
        }
        if not wrong or time.monotonic() > deadline:
            break
        page.wait_for_timeout(1000)
    if wrong:
        table.scroll_into_view_if_needed()
        shots.take(page, f"columns-{asset}")
    assert not wrong, wrong


# the config editor shows docstrings as plain text, so they must not use reStructuredText ``code``
def test_config_editor_shows_no_rst_backticks(page, ui, shots):
    page.goto("/assets/recommender_runs")
    materialize_button(page).click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize recommender_runs")
    dialog.get_by_text("Config", exact=True).click()
    dialog.get_by_role("button", name="Add config").click()
    editor = page.get_by_role("dialog").filter(has_text="Config Editor")
    expect(editor.get_by_text("Use Ctrl+Space to show auto-completions inline.")).to_be_visible()
    shots.take(page, "config-editor-docs")
    assert "``" not in editor.inner_text()
