"""Screenshots of thread pages as a reader sees them, for the README and for reviewing rendering.

Starts a throwaway Dovecot and MediaWiki on 127.0.0.1 (tests/servers.py), publishes the sample
threads of tests/page_samples.py with ``email-wiki-bridge once`` (the same pages that
tests/integration/test_page_look.py checks) and writes one PNG per page with headless Chromium
(Debian package ``chromium``, installed with apt-get when missing), plus the page's wikitext
next to it (``KEY.wiki``), as the editor shows it.

Run from the repository root: ``.venv/bin/python bench/screenshots.py --out DIR``. Nothing is
downloaded but the Chromium package; the servers and their files are removed at the end.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.support import WikiReader  # noqa: E402 - after the sys.path set-up
from tests.page_samples import publish_samples  # noqa: E402
from tests.servers import make_temp_dir, start_dovecot, start_mediawiki  # noqa: E402

CHROMIUM = "chromium"
# Without the background-networking flags Chromium keeps trying to reach Google's hosts, which
# a closed network refuses; --no-sandbox because the command may run as root.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Wait for the page's scripts: before they run, MediaWiki's CSS hides a collapsed block's
    # label and shows a placeholder [Expand], which is not what a reader sees a moment later.
    "--virtual-time-budget=10000",
)
IMAP_USERS = {"team-sales": "secret-sales"}  # the user tests/integration/support.new_space uses


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the PNG and wikitext files")
    parser.add_argument("--width", type=int, default=1200, help="window width in pixels")
    parser.add_argument("--height", type=int, default=1600, help="window height in pixels")
    return parser.parse_args()


def ensure_chromium() -> str:
    """Return the path of Chromium, installing the Debian package first when it is missing."""
    found = shutil.which(CHROMIUM)
    if found is None:
        subprocess.run(["apt-get", "install", "-y", CHROMIUM], check=True, timeout=900)
        found = shutil.which(CHROMIUM)
    if found is None:
        raise SystemExit(f"screenshots: {CHROMIUM} not found after apt-get install")
    return found


def screenshot(chromium: str, url: str, png: Path, width: int, height: int) -> None:
    """Write a PNG of ``url``; each run gets a new empty profile, so nothing carries over."""
    with tempfile.TemporaryDirectory(prefix="ewb-chromium-") as profile:
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                f"--window-size={width},{height}",
                url,
            ],
            check=True,
            timeout=120,
            capture_output=True,
        )
    if not png.is_file():
        raise SystemExit(f"screenshots: Chromium wrote no {png}")


def main() -> int:
    """Publish the samples and write their screenshots; return the exit status."""
    args = parse_args()
    chromium = ensure_chromium()
    args.out.mkdir(parents=True, exist_ok=True)
    root = make_temp_dir("ewb-shots-")
    dovecot = start_dovecot(root / "imap", IMAP_USERS)
    wiki = start_mediawiki(root / "wiki")
    try:
        titles = publish_samples(dovecot, wiki, root / "spaces")
        reader = WikiReader(wiki)
        for key, title in titles.items():
            png = args.out / f"{key}.png"
            screenshot(chromium, wiki.page_url(title), png, args.width, args.height)
            (args.out / f"{key}.wiki").write_text(reader.text(title), encoding="utf-8")
            print(f"{png}  ({png.stat().st_size // 1024} KB)  {title}")
        return 0
    finally:
        wiki.stop()
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
