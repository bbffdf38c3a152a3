"""Throwaway Dovecot, MediaWiki, PostgreSQL and SMTP servers on loopback, for tests and the demo.

Every server here is real (Debian's ``dovecot``, ``php -S`` serving Debian's MediaWiki 1.39, an
in-process ``aiosmtpd``), binds to 127.0.0.1 on a free port and keeps all of its state in one
directory, so several instances can run side by side and nothing outside that directory changes.

The configuration is a port of the verified shell recipes (``start-dovecot.sh`` and
``start-mediawiki.sh``); the comments tagged D<n>/M<n> refer to the gotchas listed in their notes.

Only the standard library and ``requests`` are needed to import this module; ``imapclient`` and
``aiosmtpd`` (test dependencies) are imported by the helpers that use them.
"""

from __future__ import annotations

import atexit
import contextlib
import email.policy
import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self
from urllib.parse import quote

import requests

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

__all__ = [
    "LOOPBACK",
    "DovecotServer",
    "MediaWikiServer",
    "PostgresServer",
    "ReceivedMail",
    "ServerStartError",
    "SmtpSink",
    "SmtpStage",
    "append_mail",
    "free_port",
    "make_self_signed_cert",
    "make_temp_dir",
    "port_is_listening",
    "port_is_open",
    "start_dovecot",
    "start_mediawiki",
    "start_postgres",
    "start_smtp_sink",
    "wiki_login",
]

LOOPBACK = "127.0.0.1"
MEDIAWIKI_TREE = Path("/usr/share/mediawiki")
DOVECOT_IMAP_BINARY = Path("/usr/lib/dovecot/imap")
SETUP_HINT = "run scripts/setup.sh as root, which installs the Debian packages"

# D3: the longest unix socket Dovecot creates is DIR/run/token-login/imap-urlauth, and sun_path
# holds 107 bytes, so a longer directory fails with "File name too long".
MAX_DOVECOT_DIR_LENGTH = 75
# How often a start is retried with fresh ports when another process grabbed a port between
# free_port() and the server's bind().
_PORT_RETRIES = 3
_POLL_INTERVAL = 0.02


class ServerStartError(RuntimeError):
    """A test server could not be started; the message says why and where its log is."""


# --------------------------------------------------------------------------------------------
# small shared helpers
# --------------------------------------------------------------------------------------------


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that was free a moment ago.

    The port is only reserved until the socket closes, so starters retry with a new port when
    the server's own bind fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_open(port: int, host: str = LOOPBACK) -> bool:
    """Return whether something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def port_is_listening(port: int, host: str = LOOPBACK) -> bool:
    """Return whether some socket listens on ``host:port``, without connecting to it.

    Used to wait for a stopped server. A bind with SO_REUSEADDR fails exactly while a listening
    socket holds the address (TIME_WAIT leftovers do not count), which is also the condition for
    restarting a server on the same port; and unlike a connect() probe it leaves no
    "disconnected without login" lines in the server's log.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


def _wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it is true; raise TimeoutError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout:.0f} s waiting for {what}"
            raise TimeoutError(msg)
        time.sleep(_POLL_INTERVAL)


def make_temp_dir(prefix: str = "ewb-") -> Path:
    """Create a short, world-searchable directory under /tmp and return it.

    D2/D3: Dovecot's mail processes run as ``nobody`` and its auth process as ``dovecot``, so every
    parent must be o+x (pytest's ``tmp_path`` under the 0700 ``/tmp/pytest-of-root`` is not), and
    the path must stay short for Dovecot's unix sockets.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


def _require_binary(name: str) -> str:
    """Return the full path of executable ``name`` or raise a ServerStartError with a fix."""
    # A non-root PATH often lacks /usr/sbin, where Debian puts dovecot.
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        msg = f"'{name}' not found on PATH: {SETUP_HINT}"
        raise ServerStartError(msg)
    return found


def _tail(path: Path, lines: int = 25) -> str:
    """Return the last ``lines`` lines of a log file, for error messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


# Every server process started here and not yet stopped. An atexit hook stops them, so a test
# run that dies half-way (Ctrl-C, a crash in a fixture) leaves no servers behind.
_LIVE_PROCESSES: set[subprocess.Popen[bytes]] = set()


def _spawn(
    args: list[str], log_path: Path, *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a server process in its own session with output appended to ``log_path``.

    Its own session (process group) lets :func:`_terminate_group` signal everything it forks.
    """
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _LIVE_PROCESSES.add(process)
    return process


@atexit.register
def _stop_leftovers() -> None:
    """Stop servers that nobody stopped (runs at interpreter exit)."""
    for process in list(_LIVE_PROCESSES):
        _terminate_group(process, 5.0)


def _terminate_group(
    process: subprocess.Popen[bytes], timeout: float, *, graceful: bool = True, grace: float | None = None
) -> None:
    """Stop a session-leader process and everything it forked, and reap it.

    The whole process group gets the signal: forked php -S workers ignore SIGTERM to their
    master (M12), and Dovecot's IMAP processes then say BYE at once instead of after the
    master's ~1.1 s (D6). A leader still alive ``grace`` seconds (default: ``timeout``) after
    SIGTERM gets SIGKILL. ``graceful=False`` sends SIGKILL right away, like a crash. ``wait()``
    reaps the child, because PID 1 in a container may never do it and a zombie would look
    alive (D5).
    """
    _LIVE_PROCESSES.discard(process)
    if process.poll() is not None:
        return  # already gone (and reaped by poll); its id may now belong to someone else
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM if graceful else signal.SIGKILL)
    try:
        process.wait(timeout=timeout if grace is None else grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    # Children can outlive the leader for a moment (or for good, if one hangs): kill stragglers
    # right away, while the group id surely is still this server's.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def make_self_signed_cert(directory: Path, common_name: str = LOOPBACK) -> tuple[Path, Path]:
    """Create ``cert.pem`` and ``key.pem`` in ``directory`` and return their paths.

    The certificate is its own CA and names ``IP:127.0.0.1`` and ``DNS:localhost``, so clients
    can verify it with ``ssl.create_default_context(cafile=cert)`` under either name.
    """
    openssl = _require_binary("openssl")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    if cert.is_file() and key.is_file():
        return cert, key
    result = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            # EC P-256: every TLS client accepts it, and it is generated in milliseconds
            # where an RSA-2048 key takes 0.1-0.4 s.
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            f"/CN={common_name}",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        msg = f"openssl could not create a certificate: {result.stderr.strip()}"
        raise ServerStartError(msg)
    key.chmod(0o600)
    return cert, key


# --------------------------------------------------------------------------------------------
# Dovecot
# --------------------------------------------------------------------------------------------


class _ThrowawayServer:
    """Clean-up shared by the servers: stop, and delete the directory the starter created."""

    dir: Path
    owns_dir: bool

    def stop(self) -> None:
        """Stop the server (each server class knows how)."""
        raise NotImplementedError

    def cleanup(self) -> None:
        """Stop the server and delete its directory if its start function created it."""
        self.stop()
        if self.owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        """Use as a context manager that cleans up on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server and remove an owned directory."""
        self.cleanup()


@dataclass(eq=False)
class DovecotServer(_ThrowawayServer):
    """A running (or stopped) throwaway Dovecot instance; see :func:`start_dovecot`.

    ``port`` is plain IMAP (LOGIN allowed without TLS, STARTTLS offered), ``tls_port`` is IMAPS
    with a self-signed certificate whose own file is ``ca_file``. ``users`` maps user names to
    passwords. Stopping keeps the data, so ``start()``/``restart()`` bring back the same mailboxes
    on the same ports.
    """

    dir: Path
    host: str
    port: int
    tls_port: int
    ca_file: Path
    users: dict[str, str]
    separator: str
    conf_path: Path
    log_path: Path
    users_dir: Path
    owns_dir: bool = False
    extra_config: str = ""
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        """The master process id while running, else None."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        """Whether the master process we started is alive (zombies count as dead: D5)."""
        return self._process is not None and self._process.poll() is None

    def ssl_context(self) -> ssl.SSLContext:
        """Return a client context that trusts this server's certificate (host name checked)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def maildir(self, user: str) -> Path:
        """Return the Maildir of ``user`` (it exists after the user's first login)."""
        return self.dir / "mail" / user / "Maildir"

    def start(self, timeout: float = 10.0) -> None:
        """Start ``dovecot -F`` with the existing configuration and wait for both greetings."""
        if self.running:
            return
        dovecot = _require_binary("dovecot")
        # D5: a master.pid left by a dead (maybe zombie) master makes Dovecot refuse to start.
        (self.dir / "run" / "master.pid").unlink(missing_ok=True)
        stdout_log = self.dir / "log" / "stdout.log"
        self._process = _spawn([dovecot, "-F", "-c", str(self.conf_path)], stdout_log)
        try:
            _wait_until(self._ready, timeout, f"Dovecot greetings on ports {self.port}/{self.tls_port}")
        except (TimeoutError, ServerStartError) as exc:
            # Not stop(): it waits for the ports to close, which never happens when another
            # process holds one of them.
            _terminate_group(self._process, timeout)
            msg = (
                f"Dovecot did not start ({exc}).\n--- {self.log_path} ---\n{_tail(self.log_path)}\n"
                f"--- {stdout_log} ---\n{_tail(stdout_log)}"
            )
            raise ServerStartError(msg) from exc

    def _ready(self) -> bool:
        """Return whether both ports greet with ``* OK``; raise if the master died."""
        if self._process is None or self._process.poll() is not None:
            msg = "dovecot exited during start-up"
            raise ServerStartError(msg)
        try:
            with socket.create_connection((self.host, self.port), timeout=2.0) as plain:
                if not plain.makefile("rb").readline().startswith(b"* OK"):
                    return False
            raw = socket.create_connection((self.host, self.tls_port), timeout=2.0)
            with self.ssl_context().wrap_socket(raw, server_hostname=self.host) as tls:
                return tls.makefile("rb").readline().startswith(b"* OK")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0, *, graceful: bool = True) -> None:
        """Stop the server and wait until both ports are closed.

        Graceful (SIGTERM to every Dovecot process): IMAP clients get ``* BYE Server shutting
        down.`` within milliseconds. The master itself sometimes lingers for about a second
        waiting for its children's exit reports; after 0.3 s it is killed, since nothing is left
        for it to do. ``graceful=False`` (SIGKILL) drops every connection without a word, like a
        crash or a network cut.
        """
        if self._process is not None:
            _terminate_group(self._process, timeout, graceful=graceful, grace=0.3)
        _wait_until(
            lambda: (
                not port_is_listening(self.port, self.host)
                and not port_is_listening(self.tls_port, self.host)
            ),
            timeout,
            f"Dovecot ports {self.port}/{self.tls_port} to close",
        )

    def restart(self, timeout: float = 10.0, *, graceful: bool = True) -> None:
        """Stop and start again: same ports, users and mail (open client connections drop)."""
        self.stop(timeout, graceful=graceful)
        self.start(timeout)

    def add_user(self, name: str, password: str) -> None:
        """Add an IMAP user; it can log in at once.

        Each user has its own passwd-file (``users.d/<name>``): Dovecot looks at a passwd-file's
        mtime at most once per second, so appending to one shared file is not seen by a login in
        the same second, while a file it has never opened is read on first use.
        """
        if name in self.users:
            msg = f"user {name!r} exists already"
            raise ValueError(msg)
        _write_user(self.users_dir, name, password, self.dir / "mail" / name)
        self.users[name] = password


def _check_passwd_field(what: str, value: str) -> None:
    """Reject values that would break the colon-separated passwd-file line."""
    if not value or any(char in value for char in ":\n\r"):
        msg = f"{what} must be non-empty and contain no ':' or line breaks: {value!r}"
        raise ValueError(msg)


def _mail_ids() -> tuple[int, int]:
    """Return the uid/gid that owns mail: ``nobody`` as root (D1), else the caller."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid
    return os.getuid(), os.getgid()


def _write_user(users_dir: Path, name: str, password: str, home: Path) -> None:
    """Write the one-line passwd-file ``users_dir/name``: user:{PLAIN}password:uid:gid::home::."""
    _check_passwd_field("user name", name)
    _check_passwd_field("password", password)
    if "/" in name or name.startswith("."):
        msg = f"user name {name!r} must not contain '/' or start with '.' (it names a file)"
        raise ValueError(msg)
    uid, gid = _mail_ids()
    path = users_dir / name
    path.write_text(f"{name}:{{PLAIN}}{password}:{uid}:{gid}::{home}::\n", encoding="utf-8")
    if os.geteuid() == 0:
        # The auth process runs as user dovecot and must read (only) these files.
        os.chown(path, 0, grp.getgrnam("dovecot").gr_gid)
        path.chmod(0o640)


def _check_dovecot_dir(path: Path) -> None:
    """Fail early and clearly on the two directory mistakes that break Dovecot (D2, D3)."""
    if len(str(path)) > MAX_DOVECOT_DIR_LENGTH:
        msg = (
            f"Dovecot directory {path} is {len(str(path))} characters long; its unix sockets need "
            f'<= {MAX_DOVECOT_DIR_LENGTH} ("File name too long"). Use make_temp_dir().'
        )
        raise ServerStartError(msg)
    if os.geteuid() != 0:
        return  # rootless mode: every process runs as the caller, who can reach the directory
    for parent in [path, *path.parents]:
        if not parent.stat().st_mode & 0o001:
            msg = (
                f"{parent} is not world-searchable (o+x), so Dovecot's 'nobody'/'dovecot' processes "
                "cannot reach the mail and users file. pytest's tmp_path is such a place; "
                "use make_temp_dir()."
            )
            raise ServerStartError(msg)


def _dovecot_conf(server: DovecotServer) -> str:
    """Return a self-contained dovecot.conf that reads nothing from /etc/dovecot."""
    uid, _gid = _mail_ids()
    if os.geteuid() == 0:
        # D1: mail processes never run as uid 0; Dovecot's usual dovecot/dovenull users do the rest.
        rootless = ""
    else:
        # Rootless mode: every service runs as the calling user, and chroot needs root.
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        rootless = (
            f"default_internal_user = {user}\ndefault_internal_group = {group}\n"
            f"default_login_user = {user}\n"
            "service anvil {\n  chroot =\n}\nservice imap-login {\n  chroot =\n}\n"
        )
    d = server.dir
    return f"""\
# Throwaway test instance written by tests/servers.py. Reads nothing from /etc/dovecot.
instance_name = ewb-dovecot-{server.port}
base_dir = {d}/run
state_dir = {d}/state
log_path = {server.log_path}
protocols = imap
listen = {server.host}
{rootless}
ssl = yes
ssl_cert = <{d}/ssl/cert.pem
ssl_key = <{d}/ssl/key.pem
# D11: loopback counts as secured anyway; stated for clarity.
disable_plaintext_auth = no
auth_mechanisms = plain login
# D8: the default 2 s delay would slow every bad-password test. (Dovecot 2.3.19 still answers a
# failed login only on its next 0.5 s failure-queue tick.)
auth_failure_delay = 0
first_valid_uid = {uid}
last_valid_uid = 0

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {server.users_dir}/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {server.users_dir}/%u
}}
mail_location = maildir:~/Maildir
mail_fsync = never
# D4: Maildir's default separator "." rejects "Archive/2024"; clients must still ask LIST.
namespace inbox {{
  inbox = yes
  separator = {server.separator}
}}
# D7: the bridge, its IDLE connections and the tests all log in as the same user from 127.0.0.1.
mail_max_userip_connections = 100
# After a failed login Dovecot delays the next logins from the same IP (2, 4, 8, 15 s), which
# would make every bad-password test slow down the ones after it. The auth process turns this
# "auth penalty" off when it cannot reach anvil's penalty socket, hence mode 0.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}

service imap-login {{
  inet_listener imap {{
    address = {server.host}
    port = {server.port}
  }}
  inet_listener imaps {{
    address = {server.host}
    port = {server.tls_port}
    ssl = yes
  }}
}}
{server.extra_config}
"""


def start_dovecot(
    base_dir: Path | None = None,
    users: Mapping[str, str] | None = None,
    *,
    separator: str = "/",
    timeout: float = 10.0,
    extra_config: str = "",
) -> DovecotServer:
    """Start a throwaway Dovecot on 127.0.0.1 (plain IMAP + IMAPS on free ports) and return it.

    ``base_dir`` must be short and world-searchable (see :func:`make_temp_dir`); when None, a
    fresh directory is created and removed again by :meth:`DovecotServer.cleanup`. ``users`` maps
    names to passwords (default: ``team-sales``/``secret``). ``separator`` is the INBOX
    namespace's hierarchy separator (``"/"``, or ``"."`` to test the other common layout).
    ``extra_config`` is appended to dovecot.conf, e.g. an ``imap_capability`` line without MOVE
    to test a server that lacks it.
    """
    _require_binary("dovecot")
    if not DOVECOT_IMAP_BINARY.exists():
        msg = f"{DOVECOT_IMAP_BINARY} is missing (package dovecot-imapd): {SETUP_HINT}"
        raise ServerStartError(msg)
    owns_dir = base_dir is None
    directory = make_temp_dir() if base_dir is None else base_dir
    directory.mkdir(parents=True, exist_ok=True)
    directory = directory.resolve()
    _check_dovecot_dir(directory)
    for sub in ("run", "state", "mail", "ssl", "log"):
        (directory / sub).mkdir(exist_ok=True)
    cert, _key = make_self_signed_cert(directory / "ssl")

    uid, gid = _mail_ids()
    os.chown(directory / "mail", uid, gid)
    users = dict(users) if users is not None else {"team-sales": "secret"}
    users_dir = directory / "users.d"
    users_dir.mkdir(exist_ok=True)
    for name, password in users.items():
        _write_user(users_dir, name, password, directory / "mail" / name)

    last_error: ServerStartError | None = None
    for _attempt in range(_PORT_RETRIES):
        server = DovecotServer(
            dir=directory,
            host=LOOPBACK,
            port=free_port(),
            tls_port=free_port(),
            ca_file=cert,
            users=users,
            separator=separator,
            conf_path=directory / "dovecot.conf",
            log_path=directory / "log" / "dovecot.log",
            users_dir=users_dir,
            owns_dir=owns_dir,
            extra_config=extra_config,
        )
        if server.port == server.tls_port:
            continue
        server.conf_path.write_text(_dovecot_conf(server), encoding="utf-8")
        try:
            server.start(timeout)
        except ServerStartError as exc:
            last_error = exc
            if "Address already in use" in str(exc):
                continue  # another process took a port after free_port(): try new ones
            break
        return server
    if owns_dir:
        shutil.rmtree(directory, ignore_errors=True)
    raise last_error or ServerStartError("could not find two free ports for Dovecot")


def append_mail(
    server: DovecotServer,
    user: str,
    folder: str,
    raw_message: bytes,
    *,
    flags: Iterable[str] = (),
    msg_time: datetime | None = None,
    create_folder: bool = True,
) -> int | None:
    """APPEND one raw RFC 5322 message to ``folder`` of ``user`` and return its UID.

    ``flags`` are IMAP flags such as ``"\\Seen"``; ``msg_time`` sets INTERNALDATE (default: now).
    The folder is created first when missing (unless ``create_folder`` is False). Returns None
    only if the server did not report APPENDUID (Dovecot always does).
    """
    from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]

    # D9: IMAPClient defaults to ssl=True, which fails against the plain port.
    client = IMAPClient(server.host, port=server.port, ssl=False, timeout=10)
    try:
        client.login(user, server.users[user])
        if create_folder and not client.folder_exists(folder):
            client.create_folder(folder)
        response = client.append(folder, raw_message, flags=tuple(flags), msg_time=msg_time)
    finally:
        try:
            client.logout()
        except Exception:  # the APPEND result matters, not a failed goodbye
            client.shutdown()
    text = response.decode("ascii", "replace") if isinstance(response, bytes) else str(response)
    match = re.search(r"\[APPENDUID \d+ (\d+)\]", text)
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------------------------
# MediaWiki
# --------------------------------------------------------------------------------------------

BOT_APP_ID = "bridge"
BOT_GRANTS = ("basic", "highvolume", "editpage", "createeditmovepage", "uploadfile", "uploadeditmovefile")
_PHP_MODULES = ("pdo_sqlite", "intl", "mbstring", "dom", "xml", "fileinfo", "gd")

_LOCAL_SETTINGS_OVERRIDES = """
# ---------------- throwaway test-instance overrides (tests/servers.py) ----------------
$wgEnableUploads = true;
$wgUploadDirectory = "{dir}/images";   # M2: served by router.php at /images
$wgUploadPath = "/images";
$wgFileExtensions = [
	'png', 'gif', 'jpg', 'jpeg', 'webp', 'pdf', 'txt', 'eml', 'csv', 'docx', 'xlsx', 'odt', 'zip',
];
$wgMaxUploadSize = 100 * 1024 * 1024;   # M3: php -S gets matching upload_max_filesize/post_max_size
$wgUseImageMagick = false;              # M11: the installer points at a convert that does not exist
$wgCacheDirectory = "{dir}/cache";
$wgTmpDirectory = "{dir}/tmp";
$wgJobRunRate = 0;                      # M15: no jobs inside requests; run_maintenance('runJobs')
$wgGroupPermissions['*']['edit'] = false;        # M9: a lost session must fail, not edit as an IP
$wgGroupPermissions['*']['createpage'] = false;
$wgGroupPermissions['*']['createtalk'] = false;
$wgShowExceptionDetails = true;
$wgDebugLogGroups['exception'] = "{dir}/logs/exception.log";
$wgDebugLogGroups['error'] = "{dir}/logs/error.log";
# Fault-injection knobs that drive MediaWiki's own code paths (MediaWikiServer.set_*):
#   DIR/fake-lag  (M7) -> requests with maxlag below its number get error "maxlag" + Retry-After
#   DIR/readonly  (M8) -> the wiki is read-only; edits and uploads get error "readonly"
$wgHooks['ApiMaxLagInfo'][] = static function ( &$lagInfo ) {{
	$f = '{dir}/fake-lag';
	if ( is_readable( $f ) ) {{
		$lagInfo = [ 'host' => 'fake-lag', 'lag' => (float)trim( file_get_contents( $f ) ), 'type' => 'db' ];
	}}
}};
$wgReadOnlyFile = "{dir}/readonly";
#   DIR/ratelimit (M5) -> edits/uploads limited to N per 60 s per user: error "ratelimited".
# Without that file the bot group is exempt (MediaWiki's default limits even bots to 90 edits/min).
if ( is_readable( '{dir}/ratelimit' ) ) {{
	$testRateLimit = max( 1, (int)trim( file_get_contents( '{dir}/ratelimit' ) ) );
	$wgRateLimits['edit']['user'] = [ $testRateLimit, 60 ];
	$wgRateLimits['upload']['user'] = [ $testRateLimit, 60 ];
}} else {{
	$wgGroupPermissions['bot']['noratelimit'] = true;
}}
#   DIR/spamregex -> $wgSpamRegex: an edit whose text matches is refused (error "spamdetected").
if ( is_readable( '{dir}/spamregex' ) ) {{
	$wgSpamRegex = [ trim( file_get_contents( '{dir}/spamregex' ) ) ];
}}
#   DIR/maxarticlesize -> $wgMaxArticleSize in KB (the largest page's wikitext): error "contenttoobig".
if ( is_readable( '{dir}/maxarticlesize' ) ) {{
	$wgMaxArticleSize = max( 1, (int)trim( file_get_contents( '{dir}/maxarticlesize' ) ) );
}}
"""

# M2: php -S serves /images from its docroot (the system tree); this maps it to DIR/images.
_ROUTER_PHP = """<?php
// php -S router: /images/* comes from this instance's upload dir, everything else from the
// MediaWiki tree (document root). Returning false lets the built-in server handle the request.
$path = rawurldecode( parse_url( $_SERVER['REQUEST_URI'], PHP_URL_PATH ) ?? '/' );
if ( strncmp( $path, '/images/', 8 ) === 0 ) {
	$base = realpath( __DIR__ . '/images' );
	$file = realpath( $base . substr( $path, 7 ) );
	if ( $file === false || strncmp( $file, $base . '/', strlen( $base ) + 1 ) !== 0 || !is_file( $file ) ) {
		http_response_code( 404 );
		echo "Not found\\n";
		return true;
	}
	header( 'Content-Type: ' . ( mime_content_type( $file ) ?: 'application/octet-stream' ) );
	header( 'Content-Length: ' . filesize( $file ) );
	readfile( $file );
	return true;
}
return false;
"""


@dataclass(eq=False)
class MediaWikiServer(_ThrowawayServer):
    """A running (or stopped) throwaway MediaWiki 1.39 on SQLite; see :func:`start_mediawiki`.

    Accounts: ``admin_user`` (sysop), the bot account ``Bridgebot`` whose bot password logs in as
    ``bot_login``/``bot_password`` through ``action=login``, and ``human_user`` (a plain user,
    for "a person edits the page" tests; log in with :func:`wiki_login`).
    """

    dir: Path
    port: int
    config_file: Path
    log_path: Path
    admin_user: str
    admin_password: str
    bot_user: str
    bot_user_password: str
    bot_password: str
    human_user: str
    human_password: str
    bot_grants: tuple[str, ...] = BOT_GRANTS
    tree: Path = MEDIAWIKI_TREE
    language: str = "en"  # the content language install.php was given
    owns_dir: bool = False
    opcache: bool = False
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def server_url(self) -> str:
        """``http://127.0.0.1:PORT`` (the wiki lives at the root: script path "")."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def api_url(self) -> str:
        """The Action API endpoint."""
        return f"{self.server_url}/api.php"

    @property
    def index_url(self) -> str:
        """The index.php endpoint (page views, ``?title=...&action=raw``)."""
        return f"{self.server_url}/index.php"

    @property
    def bot_login(self) -> str:
        """The bot-password login name, ``Bridgebot@bridge``."""
        return f"{self.bot_user}@{BOT_APP_ID}"

    @property
    def pid(self) -> int | None:
        """The php -S process id while running, else None."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        """Whether the php -S process we started is alive."""
        return self._process is not None and self._process.poll() is None

    def page_url(self, title: str) -> str:
        """Return the browser URL of page ``title``."""
        return f"{self.index_url}?title={quote(title.replace(' ', '_'), safe='/:')}"

    def php_env(self) -> dict[str, str]:
        """Return the environment for php: M1, MW_CONFIG_FILE selects this instance."""
        env = dict(os.environ, MW_CONFIG_FILE=str(self.config_file))
        env.pop("PHP_CLI_SERVER_WORKERS", None)  # M12: one process; workers do not pay on 2 cores
        return env

    def start(self, timeout: float = 15.0) -> None:
        """Serve the installed wiki with ``php -S`` and wait until the API answers siteinfo."""
        if self.running:
            return
        php = _require_binary("php")
        self._process = _spawn(
            [
                php,
                "-q",  # M13: no per-request access log lines
                # M3: the CLI ini's 2M/8M limits would reject uploads (or drop the POST).
                "-d",
                "upload_max_filesize=100M",
                "-d",
                "post_max_size=110M",
                "-d",
                "memory_limit=512M",
                # Off by default (the CLI's setting); the benchmarks switch it on, as every
                # production PHP runs with it, so the wiki's own speed is not the compiler's.
                "-d",
                f"opcache.enable_cli={int(self.opcache)}",
                "-S",
                f"{LOOPBACK}:{self.port}",
                "-t",
                str(self.tree),
                str(self.dir / "router.php"),
            ],
            self.log_path,
            cwd=self.dir,
            env=self.php_env(),
        )
        try:
            _wait_until(self._ready, timeout, f"MediaWiki API at {self.api_url}")
        except (TimeoutError, ServerStartError) as exc:
            _terminate_group(self._process, timeout)  # not stop(): the port may be someone else's
            msg = f"MediaWiki did not start ({exc}).\n--- {self.log_path} ---\n{_tail(self.log_path)}"
            raise ServerStartError(msg) from exc

    def _ready(self) -> bool:
        """Return whether api.php answers siteinfo JSON; raise if php -S died."""
        if self._process is None or self._process.poll() is not None:
            msg = "php -S exited during start-up"
            raise ServerStartError(msg)
        try:
            reply = requests.get(
                self.api_url,
                params={"action": "query", "meta": "siteinfo", "format": "json"},
                timeout=5,
            )
            return "generator" in reply.json()["query"]["general"]
        except (requests.RequestException, ValueError, KeyError, TypeError):
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop php -S (the whole process group) and wait until the port is closed."""
        if self._process is not None:
            _terminate_group(self._process, timeout)
        _wait_until(lambda: not port_is_listening(self.port), timeout, f"MediaWiki port {self.port} to close")

    def restart(self, timeout: float = 15.0) -> None:
        """Stop and start again on the same port with the same data."""
        self.stop()
        self.start(timeout)

    def set_fake_lag(self, seconds: float | None) -> None:
        """Report ``seconds`` of database lag (M7), or none; requests with a lower maxlag fail."""
        self._knob("fake-lag", None if seconds is None else str(seconds))

    def set_readonly(self, reason: str | None) -> None:
        """Make the wiki read-only with ``reason`` (M8), or writable again with None."""
        if reason is not None and not reason.strip():
            msg = "a read-only reason must not be blank (MediaWiki ignores an empty file)"
            raise ValueError(msg)
        self._knob("readonly", reason)

    def set_ratelimit(self, edits_per_minute: int | None) -> None:
        """Limit edits and uploads to N per 60 s per user, bots included (M5); None lifts it."""
        if edits_per_minute is not None and edits_per_minute < 1:
            msg = "the rate limit must be at least 1 per minute"
            raise ValueError(msg)
        self._knob("ratelimit", None if edits_per_minute is None else str(edits_per_minute))

    def set_spam_regex(self, pattern: str | None) -> None:
        """Refuse edits whose text matches the PHP regex `pattern` (None: accept all), as a spam filter."""
        self._knob("spamregex", pattern)

    def set_max_article_size(self, kilobytes: int | None) -> None:
        """Make ``$wgMaxArticleSize`` ``kilobytes`` KB (larger pages are refused); None restores 2,048."""
        if kilobytes is not None and kilobytes < 1:
            msg = "the article size limit must be at least 1 KB"
            raise ValueError(msg)
        self._knob("maxarticlesize", None if kilobytes is None else str(kilobytes))

    def _knob(self, name: str, value: str | None) -> None:
        """Write or remove one fault-injection file; LocalSettings reads it on every request."""
        path = self.dir / name
        if value is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(value, encoding="utf-8")  # read verbatim, e.g. as readonlyreason

    def create_user(self, name: str, password: str) -> None:
        """Create a plain user account ``name`` (an existing one is an error of the maintenance script)."""
        self.run_maintenance("createAndPromote", name, password)

    def run_maintenance(
        self, script: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``maintenance/<script>.php`` against this instance (e.g. ``runJobs``) and return it.

        Raises ``subprocess.CalledProcessError`` (with the output attached) on a non-zero exit
        unless ``check`` is False.
        """
        name = script if script.endswith(".php") else f"{script}.php"
        return subprocess.run(
            [_require_binary("php"), str(self.tree / "maintenance" / name), *args],
            cwd=self.dir,
            env=self.php_env(),
            capture_output=True,
            text=True,
            check=check,
        )


def _check_php() -> None:
    """Fail with a clear message when php, its modules or the MediaWiki tree are missing."""
    php = _require_binary("php")
    modules = subprocess.run([php, "-m"], capture_output=True, text=True, check=False).stdout.lower().split()
    missing = [module for module in _PHP_MODULES if module not in modules]
    if missing:
        msg = f"php lacks modules {', '.join(missing)}: {SETUP_HINT}"
        raise ServerStartError(msg)
    if not (MEDIAWIKI_TREE / "maintenance" / "install.php").is_file():
        msg = f"MediaWiki is not installed in {MEDIAWIKI_TREE}: {SETUP_HINT}"
        raise ServerStartError(msg)


def _set_server_port(config_file: Path, port: int) -> None:
    """Point ``$wgServer`` at ``port`` (used when the first port was taken before php bound it)."""
    text = config_file.read_text(encoding="utf-8")
    replacement = f'$wgServer = "http://{LOOPBACK}:{port}";'
    text = re.sub(r'^\$wgServer = ".*";$', replacement, text, flags=re.MULTILINE)
    config_file.write_text(text, encoding="utf-8")


def start_mediawiki(
    base_dir: Path | None = None, *, timeout: float = 15.0, opcache: bool = False, language: str = "en"
) -> MediaWikiServer:
    """Install a fresh MediaWiki on SQLite into ``base_dir``, serve it on a free port, return it.

    ``/usr/share/mediawiki`` is only read (M1): LocalSettings.php, the database, uploads and
    caches all live in ``base_dir`` (created when None, and removed by ``cleanup()``).
    ``opcache`` serves it with PHP's opcode cache, as production PHP runs (the benchmarks).
    ``language`` is the wiki's content language (``de``: namespaces such as ``Benutzer:``).
    """
    _check_php()
    owns_dir = base_dir is None
    directory = (make_temp_dir("ewb-wiki-") if base_dir is None else base_dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "LocalSettings.php").exists():
        msg = f"{directory} already holds a wiki; use a fresh directory (or restart() the server)"
        raise ServerStartError(msg)
    for sub in ("data", "images", "cache", "tmp", "logs"):
        (directory / sub).mkdir(exist_ok=True)

    server = MediaWikiServer(
        dir=directory,
        port=free_port(),
        config_file=directory / "LocalSettings.php",
        log_path=directory / "logs" / "php-server.log",
        admin_user="Admin",
        admin_password="admin-secret-pass-1",
        bot_user="Bridgebot",
        bot_user_password="bot-user-secret-1",
        # M4: bot passwords must match [0-9a-w]{32,} or action=login silently fails; hex does.
        bot_password=secrets.token_hex(16),
        human_user="Alice",
        human_password="alice-secret-pass-1",
        owns_dir=owns_dir,
        opcache=opcache,
        language=language,
    )
    try:
        _install_wiki(server)
    except (subprocess.CalledProcessError, ServerStartError) as exc:
        if owns_dir:
            shutil.rmtree(directory, ignore_errors=True)
        output = exc.stdout + exc.stderr if isinstance(exc, subprocess.CalledProcessError) else ""
        msg = f"setting up MediaWiki in {directory} failed: {exc}\n{output[-3000:]}"
        raise ServerStartError(msg) from exc

    for attempt in range(_PORT_RETRIES):
        try:
            server.start(timeout)
        except ServerStartError as exc:
            if "Address already in use" in str(exc) and attempt + 1 < _PORT_RETRIES:
                server.port = free_port()
                _set_server_port(server.config_file, server.port)
                continue
            if owns_dir:
                shutil.rmtree(directory, ignore_errors=True)
            raise
        return server
    msg = "unreachable: the last attempt either returns or raises"
    raise AssertionError(msg)


def _install_wiki(server: MediaWikiServer) -> None:
    """Run install.php and create the bot (with bot password) and the human account."""
    server.run_maintenance(
        "install",
        "--dbtype",
        "sqlite",
        "--dbpath",
        str(server.dir / "data"),
        "--dbname",
        "wiki",
        "--server",
        server.server_url,
        "--scriptpath",
        "",
        "--lang",
        server.language,
        "--pass",
        server.admin_password,
        "--confpath",
        str(server.dir),
        "--skins",
        "Vector",
        "TestWiki",
        server.admin_user,
    )
    with server.config_file.open("a", encoding="utf-8") as settings:
        settings.write(_LOCAL_SETTINGS_OVERRIDES.format(dir=server.dir))
    (server.dir / "router.php").write_text(_ROUTER_PHP, encoding="utf-8")
    server.run_maintenance("createAndPromote", "--bot", server.bot_user, server.bot_user_password)
    server.run_maintenance(
        "createBotPassword",
        "--appid",
        BOT_APP_ID,
        "--grants",
        ",".join(server.bot_grants),
        server.bot_user,
        server.bot_password,
    )
    server.run_maintenance("createAndPromote", server.human_user, server.human_password)


def wiki_login(
    server: MediaWikiServer, user: str, password: str, *, timeout: float = 10.0
) -> requests.Session:
    """Return a ``requests.Session`` logged in to ``server`` as ``user``.

    A bot-password name (``Name@app``) logs in with ``action=login``; a main account (Alice,
    Admin) with ``action=clientlogin``, because MediaWiki refuses main-account passwords on
    ``action=login``. Raises RuntimeError with the wiki's answer on failure.
    """
    session = requests.Session()
    token = session.get(
        server.api_url,
        params={"action": "query", "meta": "tokens", "type": "login", "format": "json"},
        timeout=timeout,
    ).json()["query"]["tokens"]["logintoken"]
    if "@" in user:
        data = {"action": "login", "lgname": user, "lgpassword": password, "lgtoken": token, "format": "json"}
        answer = session.post(server.api_url, data=data, timeout=timeout).json()
        ok = answer.get("login", {}).get("result") == "Success"
    else:
        data = {
            "action": "clientlogin",
            "username": user,
            "password": password,
            "logintoken": token,
            "loginreturnurl": server.server_url,  # required by the API, unused without redirects
            "format": "json",
        }
        answer = session.post(server.api_url, data=data, timeout=timeout).json()
        ok = answer.get("clientlogin", {}).get("status") == "PASS"
    if not ok:
        session.close()
        msg = f"wiki login as {user!r} failed: {answer}"
        raise RuntimeError(msg)
    return session


# --------------------------------------------------------------------------------------------
# SMTP sink
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One message accepted by the SMTP sink, as the client sent it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    message: EmailMessage
    authenticated_as: str | None
    tls: bool


SmtpStage = Literal["MAIL", "RCPT", "DATA"]


class _RecordingHandler:
    """aiosmtpd handler that accepts every message and stores it in a thread-safe list."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = dict(users)
        self.lock = threading.Lock()
        self.received: list[ReceivedMail] = []
        self.arrived = threading.Condition(self.lock)
        # Fault injection: (stage, reply, recipient) makes that SMTP command fail with `reply`
        # (4xx/5xx), for every mail or only for mail to `recipient`.
        self.refusal: tuple[SmtpStage, str, str | None] | None = None
        self.refused = 0
        # Fault injection: (stage, sessions left) closes the connection at that command without
        # an answer; at DATA after reading (and recording) the message, before the 250.
        self.drop: tuple[SmtpStage, int] | None = None
        self.dropped = 0

    def _refuse(self, stage: SmtpStage, recipients: Iterable[str] = ()) -> str | None:
        """Return the injected error reply for `stage`, counting it, or None to go on normally."""
        with self.lock:
            if self.refusal is None or self.refusal[0] != stage:
                return None
            only_for = self.refusal[2]
            if only_for is not None and only_for.lower() not in {r.lower() for r in recipients}:
                return None
            self.refused += 1
            return self.refusal[1]

    def _drop(self, stage: SmtpStage, server: SMTP) -> bool:
        """Close the client's connection at `stage` if a drop is injected there; tell whether it was."""
        with self.lock:
            if self.drop is None or self.drop[0] != stage:
                return False
            left = self.drop[1] - 1
            self.drop = (stage, left) if left > 0 else None
            self.dropped += 1
        # The answer aiosmtpd still writes after this goes nowhere: the transport is closed.
        if server.transport is not None:
            server.transport.close()
        return True

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        """Demand AUTH when users are configured; otherwise accept any sender.

        aiosmtpd's own ``auth_required`` warns when AUTH is allowed without TLS, and tests turn
        warnings into errors, so the requirement is enforced here instead.
        """
        if self.users and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if self._drop("MAIL", server):
            return "421 4.4.2 Connection dropped"
        refusal = self._refuse("MAIL")
        if refusal is not None:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Accept every recipient (aiosmtpd's default), unless a refusal is injected."""
        if self._drop("RCPT", server):
            return "421 4.4.2 Connection dropped"
        refusal = self._refuse("RCPT", [address])
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Record the message; the client's 250 arrives only after it is in the list."""
        refusal = self._refuse("DATA", envelope.rcpt_tos)
        if refusal is not None:
            return refusal
        raw = envelope.original_content or b""
        message = BytesParser(policy=email.policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)  # policy.default always makes one
        login = session.auth_data
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=raw,
            message=message,
            authenticated_as=login if isinstance(login, str) else None,
            tls=session.ssl is not None,
        )
        with self.arrived:
            self.received.append(mail)
            self.arrived.notify_all()
        if self._drop("DATA", server):
            # The mail was taken (and may be delivered); the client never hears so.
            return "421 4.4.2 Connection dropped"
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """Check AUTH PLAIN/LOGIN against ``users``; the user name becomes ``session.auth_data``."""
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            if self.users.get(login) == password:
                return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)


class SmtpSink:
    """An in-process SMTP server on 127.0.0.1 that records every message; see :func:`start_smtp_sink`."""

    def __init__(
        self,
        controller: Controller,
        handler: _RecordingHandler,
        port: int,
        make_controller: Callable[[int], Controller] | None = None,
    ) -> None:
        """Wrap a started controller; use :func:`start_smtp_sink` instead of calling this.

        ``make_controller`` builds a fresh controller for a port; without it, :meth:`start`
        cannot bring a stopped sink back.
        """
        self.host = LOOPBACK
        self.port = port
        self.users: dict[str, str] = handler.users
        self._controller = controller
        self._handler = handler
        self._make_controller = make_controller
        self._running = True

    @property
    def running(self) -> bool:
        """Whether the sink accepts connections."""
        return self._running

    @property
    def refused(self) -> int:
        """How many SMTP commands were answered with the injected refusal so far."""
        with self._handler.lock:
            return self._handler.refused

    def refuse(self, reply: str | None, stage: SmtpStage = "DATA", *, recipient: str | None = None) -> None:
        """Fault injection: answer ``stage`` (MAIL, RCPT or DATA) with ``reply``, e.g.
        ``"451 4.3.0 Try again later"``, until called with None; nothing is recorded meanwhile.

        With ``recipient`` (RCPT and DATA only), only mail to that address is refused.
        """
        if reply is not None and not re.fullmatch(r"[45]\d\d [ -~]*", reply):
            msg = f"a refusal must be a 4xx or 5xx SMTP reply line: {reply!r}"
            raise ValueError(msg)
        if recipient is not None and stage == "MAIL":
            msg = "MAIL FROM comes before any recipient: refuse RCPT or DATA for one recipient"
            raise ValueError(msg)
        with self._handler.lock:
            self._handler.refusal = None if reply is None else (stage, reply, recipient)
            self._handler.refused = 0

    def drop_connection(self, stage: SmtpStage | None, sessions: int = 1) -> None:
        """Fault injection: close the connection without an answer when ``stage`` (MAIL, RCPT or
        DATA) arrives, in the next ``sessions`` SMTP sessions that reach it (None: stop dropping).

        At DATA the message is read and recorded first, as by a server that took the mail and
        then lost the connection before its 250: the client cannot know the mail arrived.
        """
        if sessions < 1:
            msg = "drop the connection in at least one session"
            raise ValueError(msg)
        with self._handler.lock:
            self._handler.drop = None if stage is None else (stage, sessions)
            self._handler.dropped = 0

    @property
    def dropped(self) -> int:
        """How many connections were closed by an injected drop so far."""
        with self._handler.lock:
            return self._handler.dropped

    def start(self) -> None:
        """Start a stopped sink again on the same port, keeping what it received (idempotent)."""
        if self._running:
            return
        if self._make_controller is None:
            msg = "this sink cannot be restarted (it was built without make_controller)"
            raise RuntimeError(msg)
        controller = self._make_controller(self.port)
        controller.start()
        self._controller = controller
        self._running = True

    @property
    def messages(self) -> list[ReceivedMail]:
        """A snapshot of the messages received so far, oldest first."""
        with self._handler.lock:
            return list(self._handler.received)

    def clear(self) -> None:
        """Forget the messages received so far."""
        with self._handler.lock:
            self._handler.received.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until at least ``count`` messages arrived and return them; TimeoutError otherwise."""
        with self._handler.arrived:
            if not self._handler.arrived.wait_for(lambda: len(self._handler.received) >= count, timeout):
                msg = f"SMTP sink got {len(self._handler.received)} of {count} messages in {timeout} s"
                raise TimeoutError(msg)
            return list(self._handler.received)

    def stop(self) -> None:
        """Stop the server thread and close the port (idempotent)."""
        if self._running:
            self._running = False
            self._controller.stop()

    def __enter__(self) -> Self:
        """Use as a context manager that stops the sink on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the sink."""
        self.stop()


def start_smtp_sink(
    *,
    users: Mapping[str, str] | None = None,
    tls_cert: tuple[Path, Path] | None = None,
    require_starttls: bool = False,
) -> SmtpSink:
    """Start an SMTP sink on a free loopback port and return it.

    Without ``users`` any client may send; with them, AUTH PLAIN/LOGIN against that mapping is
    required before MAIL FROM (allowed without TLS, since this is loopback). ``tls_cert`` = (cert, key) offers
    STARTTLS with that certificate (see :func:`make_self_signed_cert`).
    """
    from aiosmtpd.controller import Controller

    handler = _RecordingHandler(users or {})
    tls_context = None
    if tls_cert is not None:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(str(tls_cert[0]), str(tls_cert[1]))

    def make_controller(port: int) -> Controller:
        return Controller(
            handler,
            hostname=LOOPBACK,
            port=port,
            # A fixed name: the default socket.getfqdn() can stall on a DNS lookup.
            server_hostname="smtp-sink.localhost",
            tls_context=tls_context,
            require_starttls=require_starttls,
            auth_require_tls=False,  # loopback only; with a certificate, clients use it anyway
            authenticator=handler.authenticate if users else None,
        )

    last_error: OSError | None = None
    for _attempt in range(_PORT_RETRIES):
        port = free_port()
        controller = make_controller(port)
        try:
            controller.start()
        except OSError as exc:  # the port was taken after free_port(): try another
            last_error = exc
            controller.stop(no_assert=True)
            continue
        return SmtpSink(controller, handler, port, make_controller)
    msg = f"could not start the SMTP sink: {last_error}"
    raise ServerStartError(msg)


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------

PG_SUPERUSER = "ewb"
_PG_SYSTEM_USER = "postgres"  # Debian's package creates it; initdb refuses to run as root
# Servers started here and not yet stopped: stopped at interpreter exit, like the processes above.
_LIVE_POSTGRES: set[PostgresServer] = set()


def _postgres_bin() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parent.parent.name)
    )
    if not found:
        msg = f"PostgreSQL's initdb is missing (package postgresql): {SETUP_HINT}"
        raise ServerStartError(msg)
    return found[-1].parent


def _postgres_account() -> dict[str, Any]:
    """subprocess arguments running a PostgreSQL tool as the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam(_PG_SYSTEM_USER)
    except KeyError:
        msg = f"user {_PG_SYSTEM_USER!r} is missing (package postgresql creates it): {SETUP_HINT}"
        raise ServerStartError(msg) from None
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


@dataclass(eq=False)
class PostgresServer(_ThrowawayServer):
    """A running (or stopped) throwaway PostgreSQL cluster on 127.0.0.1; see :func:`start_postgres`.

    Trust authentication on loopback for the superuser ``ewb``; data, Unix socket and log live in
    ``dir``. ``fsync`` is off: the cluster is thrown away, and the tests need no durability.
    """

    dir: Path
    host: str
    port: int
    bin_dir: Path
    owns_dir: bool = False

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.dir / "data"

    @property
    def log_path(self) -> Path:
        """The server's log."""
        return self.dir / "server.log"

    @property
    def running(self) -> bool:
        """Whether the postmaster answers (its pid file names a live process)."""
        return self._pg_ctl("status", check=False).returncode == 0

    def url(self, database: str = PG_SUPERUSER) -> str:
        """The URL of `database` for the superuser (no password: trust on loopback)."""
        return f"postgresql://{PG_SUPERUSER}@{self.host}:{self.port}/{database}"

    def _pg_ctl(
        self, *args: str, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            **_postgres_account(),
        )
        if check and result.returncode != 0:
            log = _tail(self.log_path)
            msg = f"pg_ctl {args[0]} failed: {result.stderr.strip()}\n--- {self.log_path} ---\n{log}"
            raise ServerStartError(msg)
        return result

    def start(self, timeout: float = 60.0) -> None:
        """Start the postmaster and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses={self.host} "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        self._pg_ctl("start", "-w", "-t", str(int(timeout)), "-l", str(self.log_path), "-o", options)
        _LIVE_POSTGRES.add(self)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the server (fast shutdown: open sessions are ended); its data stays."""
        _LIVE_POSTGRES.discard(self)
        if self.data_dir.joinpath("postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", str(int(timeout)), check=False)

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement (outside a transaction, as CREATE DATABASE needs) and return its rows."""
        import psycopg  # a test dependency of the PostgreSQL fixtures only

        with psycopg.connect(self.url(database), autocommit=True) as connection:
            cursor = connection.execute(statement)
            return list(cursor.fetchall()) if cursor.description else []

    def create_database(self, name: str, template: str = "template0") -> str:
        """Create an empty database (a copy of `template`) and return its URL."""
        _check_identifier(name)
        _check_identifier(template)
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending its sessions."""
        _check_identifier(name)
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _check_identifier(name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        msg = f"not a plain database name: {name!r}"
        raise ValueError(msg)


@atexit.register
def _stop_postgres_leftovers() -> None:
    """Stop PostgreSQL clusters that nobody stopped (runs at interpreter exit)."""
    for server in list(_LIVE_POSTGRES):
        server.stop()


def start_postgres(base_dir: Path | None = None, *, timeout: float = 60.0) -> PostgresServer:
    """Create a cluster with `initdb` and start it on a free loopback port; return it.

    ``base_dir`` must be searchable by the ``postgres`` user when running as root (see
    :func:`make_temp_dir`); when None, a fresh directory is created and removed again by
    :meth:`PostgresServer.cleanup`.
    """
    bin_dir = _postgres_bin()
    account = _postgres_account()
    owns_dir = base_dir is None
    directory = (make_temp_dir("ewb-pg-") if base_dir is None else base_dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if account:
        os.chown(directory, account["user"], account["group"])
    initdb = subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(directory / "data"),
            "-U",
            PG_SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        check=False,
        **account,
    )
    if initdb.returncode != 0:
        msg = f"initdb failed: {initdb.stderr.strip() or initdb.stdout.strip()}"
        raise ServerStartError(msg)
    last_error: ServerStartError | None = None
    for _attempt in range(_PORT_RETRIES):
        server = PostgresServer(
            dir=directory, host=LOOPBACK, port=free_port(), bin_dir=bin_dir, owns_dir=owns_dir
        )
        try:
            server.start(timeout)
        except ServerStartError as exc:
            last_error = exc
            if "already in use" in str(exc):
                continue  # another process took the port after free_port(): try another
            break
        server.sql(f'CREATE DATABASE "{PG_SUPERUSER}"')
        return server
    if owns_dir:
        shutil.rmtree(directory, ignore_errors=True)
    raise last_error or ServerStartError("could not find a free port for PostgreSQL")
