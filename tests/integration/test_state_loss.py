"""Lost, damaged and full state against the real servers: the wiki is the truth when the state is gone.

A deleted state file makes the next pass refuse (nothing is published twice) until
`state rebuild` has read the ledger back from the pages' markers and the mailbox's headers; a
damaged file is reported and left alone; a full disk (a real, tiny tmpfs in a private mount
namespace) fails the pass with a sentence, and the next pass with space publishes the rest, each
mail once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.core.render.page import message_marker
from tests.integration.service_support import marker_counts, page_texts
from tests.integration.support import Space, WikiReader, make_mail
from tests.servers import MediaWikiServer


def _state_files(space: Space) -> list[Path]:
    return [Path(f"{space.state_path}{suffix}") for suffix in ("", "-wal", "-shm")]


def _edits(reader: WikiReader, mediawiki: MediaWikiServer, space: Space) -> int:
    return reader.bot_edit_count(mediawiki.bot_user, space.prefix)


def test_deleted_state_is_refused_then_rebuilt_from_the_wiki(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer
) -> None:
    """After the state file is deleted, the pass refuses; `state rebuild` restores pages, ids and links."""
    space.append(make_mail("loss-root@example.de", "Quarterly numbers"))
    space.append(
        make_mail("loss-reply@example.de", "Re: Quarterly numbers", in_reply_to="loss-root@example.de")
    )
    # Its parent never arrived: only the mail's own References know the ghost id.
    space.append(make_mail("loss-orphan@example.de", "Re: Trade fair", references=["loss-ghost@example.de"]))
    space.append(make_mail("loss-solo@example.de", "Canteen menu"))
    space.write_config()
    assert space.cli("once").returncode == 0
    titles = reader.titles(space.prefix)
    edits = _edits(reader, mediawiki, space)
    assert len(titles) == 3

    for path in _state_files(space):
        path.unlink(missing_ok=True)
    refused = space.cli("once")
    assert refused.returncode == 1
    assert "state rebuild --mailbox sales" in refused.stdout, refused.stdout
    assert "the state was lost or replaced" in refused.stdout
    assert "Traceback" not in refused.stderr
    assert _edits(reader, mediawiki, space) == edits
    again = space.cli("once")  # still refused: the refusal is not a one-off
    assert again.returncode == 1 and _edits(reader, mediawiki, space) == edits

    rebuilt = space.cli("state", "rebuild", "--mailbox", "sales")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith("sales: 4 messages on 3 pages under "), rebuilt.stdout
    assert "4 of them new to the state (4 found in the mailbox" in rebuilt.stdout
    status = space.cli("status", "--json")
    assert '"published": 4' in status.stdout and '"pages": 3' in status.stdout

    # A late reply to the ghost joins the orphan's page (a link only the mailbox's headers held),
    # a reply to the first thread joins its page, and a new subject gets a new page.
    space.append(make_mail("loss-late@example.de", "Re: Trade fair", references=["loss-ghost@example.de"]))
    space.append(
        make_mail("loss-reply2@example.de", "Re: Quarterly numbers", in_reply_to="loss-reply@example.de")
    )
    space.append(make_mail("loss-new@example.de", "Parking lot"))
    after = space.cli("once")
    assert after.returncode == 0, after.stdout + after.stderr
    assert after.stdout.startswith("sales: 3 published, 4 already known"), after.stdout
    texts = page_texts(mediawiki, space.prefix)
    counts = marker_counts(texts.values())
    ids = ["root", "reply", "orphan", "solo", "late", "reply2", "new"]
    assert {i: counts[f"loss-{i}@example.de"] for i in ids} == dict.fromkeys(ids, 1)
    by_id = {
        i: [t for t, text in texts.items() if message_marker(f"loss-{i}@example.de") in text] for i in ids
    }
    assert by_id["late"] == by_id["orphan"]
    assert by_id["reply2"] == by_id["root"]
    assert len(texts) == 4
    assert _edits(reader, mediawiki, space) == edits + 3


def test_merged_threads_stay_merged_after_a_rebuild(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer
) -> None:
    """Two pages joined by a late mail: after a rebuild, the newer thread's mail goes to the older page."""
    space.append(make_mail("merge-a@example.de", "Plan A"))
    space.write_config()
    assert space.cli("once").returncode == 0
    space.append(make_mail("merge-b@example.de", "Plan B"))
    assert space.cli("once").returncode == 0
    space.append(
        make_mail(
            "merge-join@example.de",
            "Re: Plan A and B",
            references=["merge-a@example.de", "merge-b@example.de"],
        )
    )
    assert space.cli("once").returncode == 0
    for path in _state_files(space):
        path.unlink(missing_ok=True)
    assert space.cli("state", "rebuild", "--mailbox", "sales").returncode == 0
    space.append(make_mail("merge-late@example.de", "Re: Plan B", in_reply_to="merge-b@example.de"))
    assert space.cli("once").returncode == 0
    texts = page_texts(mediawiki, space.prefix)
    [older] = [title for title, text in texts.items() if message_marker("merge-a@example.de") in text]
    assert message_marker("merge-late@example.de") in texts[older]
    assert marker_counts(texts.values())["merge-late@example.de"] == 1


@pytest.mark.parametrize("damage", ["empty", "garbled", "cut short"])
def test_damaged_state_is_reported_and_left_alone(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer, damage: str
) -> None:
    """An emptied, overwritten or cut-short state file: exit 1 with the path and what to do; no edit."""
    for n in range(40):
        space.append(make_mail(f"damage-{damage[:3]}-{n}@example.de", f"Damage {n % 5}", body="x" * 400))
    space.write_config()
    assert space.cli("once").returncode == 0
    path = space.state_path
    data = path.read_bytes()
    path.write_bytes(
        {"empty": b"", "garbled": b"\x00garbage " * 500, "cut short": data[: len(data) // 2]}[damage]
    )
    before = path.read_bytes()
    edits = _edits(reader, mediawiki, space)
    space.append(make_mail(f"damage-{damage[:3]}-new@example.de", "Damage new"))
    for args in (["once"], ["status"], ["once", "--dry-run"]):
        result = space.cli(*args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert f"the state store {path} is damaged" in result.stderr, result.stderr
        assert "restore it from a backup" in result.stderr and "state rebuild" in result.stderr
        assert "Traceback" not in result.stderr
    assert path.read_bytes() == before
    assert _edits(reader, mediawiki, space) == edits


_FULL_DISK_SCRIPT = """
set -e
mount -t tmpfs -o size="$EWB_SIZE" tmpfs "$EWB_FS"
cp "$EWB_STATE" "$EWB_FS/state.sqlite3"
set +e
"$EWB_PYTHON" -m bridge --config "$EWB_CONFIG" once > "$EWB_OUT/stdout" 2> "$EWB_OUT/stderr"
echo $? > "$EWB_OUT/rc"
set -e
for file in "$EWB_FS"/state.sqlite3 "$EWB_FS"/state.sqlite3-wal; do
    if [ -e "$file" ]; then cp "$file" "$EWB_OUT/"; fi
done
"""


def test_full_disk_fails_the_pass_clearly_and_loses_nothing(
    space: Space, mediawiki: MediaWikiServer, tmp_path: Path
) -> None:
    """A real full disk: the state lives on a tiny tmpfs (a private mount namespace, so nothing is
    left mounted); the pass stops with a sentence, and the next pass publishes the rest once."""
    ids = [f"full-{n}@example.de" for n in range(40)]
    space.append(make_mail(ids[0], "Full disk 0"))
    space.write_config()
    assert space.cli("once").returncode == 0
    for n, message_id in enumerate(ids[1:], start=1):
        space.append(make_mail(message_id, f"Full disk {n}", body="y" * 2000))
    filesystem, out = tmp_path / "statefs", tmp_path / "out"
    filesystem.mkdir()
    out.mkdir()
    config = tmp_path / "config-full.toml"
    config.write_text(
        space.config_path.read_text().replace(str(space.state_path), str(filesystem / "state.sqlite3"))
    )
    # Room for the state, its shared-memory index (32 KiB), the lock file and a few transactions.
    size = space.state_path.stat().st_size + 32 * 1024 + 4096 + 96 * 1024
    namespace = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        namespace[1:1] = ["--user", "--map-root-user"]
    env = {
        **os.environ,
        "EWB_SIZE": str(size),
        "EWB_FS": str(filesystem),
        "EWB_STATE": str(space.state_path),
        "EWB_PYTHON": sys.executable,
        "EWB_CONFIG": str(config),
        "EWB_OUT": str(out),
    }
    subprocess.run([*namespace, "sh", "-c", _FULL_DISK_SCRIPT], env=env, check=True, timeout=300)
    stdout, stderr = (out / "stdout").read_text(), (out / "stderr").read_text()
    assert (out / "rc").read_text().strip() == "1", stdout + stderr
    assert "sales: FAILED" in stdout
    assert "is full" in stderr and "nothing was lost" in stderr, stderr
    assert "Traceback" not in stderr

    # The state as the full disk left it (with its journal) goes back; with space, the rest goes out.
    for path in [Path(f"{space.state_path}{suffix}") for suffix in ("-wal", "-shm")]:
        path.unlink(missing_ok=True)
    for name in ("state.sqlite3", "state.sqlite3-wal"):
        if (out / name).exists():
            shutil.copyfile(out / name, Path(f"{space.state_path}{name.removeprefix('state.sqlite3')}"))
    after = space.cli("once")
    assert after.returncode == 0, after.stdout + after.stderr
    counts = marker_counts(page_texts(mediawiki, space.prefix).values())
    assert {message_id: counts[message_id] for message_id in ids} == dict.fromkeys(ids, 1)
