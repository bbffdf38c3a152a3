"""`once --dry-run [--json]`: plan each mailbox's pass and print the plan; nothing is written anywhere."""

from __future__ import annotations

import json
import sys

from bridge.adapters.state.ports import PassState
from bridge.service.config import Settings
from bridge.service.daemon import plan_pass
from bridge.service.exitcodes import EXIT_FAILED, EXIT_OK
from bridge.sync.actions import as_json, describe
from bridge.sync.results import PassResult


def summary(result: PassResult) -> str:
    """The one-line account of a pass that `once` prints per mailbox."""
    return (
        f"{result.mailbox}: {result.published} published, {result.duplicates} already known, "
        f"{result.failed} failed, {result.quarantined} quarantined; {len(result.pages_created)} pages "
        f"created, {len(set(result.pages_extended))} extended; {result.replies_sent} replies sent"
    )


def dry_run(settings: Settings, state: PassState, json_output: bool) -> int:
    """Print what `once` would do: a sentence per step, or with `json_output` one JSON list of actions.

    Exit 1 when a mailbox cannot be planned or mail would be recorded as failed, as `once` would.
    """
    exit_code = EXIT_OK
    objects: list[dict[str, object]] = []
    for mailbox in settings.mailboxes:
        planned = plan_pass(mailbox, settings, state)
        if planned.result is None:
            print(
                f"{mailbox.name}: FAILED: {planned.error or 'see the log'}",
                file=sys.stderr if json_output else sys.stdout,
            )
            exit_code = EXIT_FAILED
            continue
        if planned.result.failed:
            exit_code = EXIT_FAILED
        if json_output:
            objects += [{"mailbox": mailbox.name, **as_json(action)} for action in planned.actions]
            continue
        for action in planned.actions:
            for line in describe(action):
                print(f"would {line}")
        print(summary(planned.result) + " (dry run: nothing was changed)")
    if json_output:
        print(json.dumps(objects, indent=2, ensure_ascii=False))
    return exit_code
