"""The two sides of each contract: a fake of tests/fakes.py or a real server behind its adapter.

Each backend opens the port under test and gives the test its hands on the server behind it
(deliver mail, read flags, renumber a folder, edit a page as a person, read what was delivered),
so one test body runs unchanged against both, in the style of vdirsyncer's storage tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from bridge.adapters.imap import ImapMailbox
from bridge.adapters.smtp import Mailer
from bridge.adapters.wiki import WikiClient
from bridge.service.config import MailboxSettings
from bridge.sync.ports import Mailbox, Sender, Wiki
from tests.fakes import FakeFolder, FakeMailbox, FakeSender, FakeWiki
from tests.integration.support import new_space, smtp_section
from tests.servers import DovecotServer, MediaWikiServer, SmtpSink, append_mail


class MailboxBackend(Protocol):
    """A mailbox server and the `Mailbox` port onto it."""

    def session(self) -> AbstractContextManager[Mailbox]:
        """A logged-in session, as `MailboxSync` opens one."""
        ...

    def create_folder(self, folder: str) -> None:
        """Create an empty folder."""
        ...

    def deliver(self, folder: str, raw: bytes, when: datetime) -> int:
        """Put a mail into `folder` (created when missing) with INTERNALDATE `when`; its UID."""
        ...

    def flags(self, folder: str, uid: int) -> set[str]:
        """The flags and keywords of a mail, as a person's mail client sees them."""
        ...

    def recreate(self, folder: str, mails: Sequence[bytes]) -> None:
        """Delete `folder` and create it anew holding `mails` (a new UIDVALIDITY epoch)."""
        ...


class FakeMailboxBackend:
    """The in-memory IMAP account."""

    def __init__(self) -> None:
        self.fake = FakeMailbox(folders=())

    def session(self) -> AbstractContextManager[Mailbox]:
        """The fake itself is its session."""
        return self.fake

    def create_folder(self, folder: str) -> None:
        """Add an empty folder."""
        self.fake.folders[folder] = FakeFolder(uidvalidity=1)

    def deliver(self, folder: str, raw: bytes, when: datetime) -> int:
        """Append in memory."""
        return self.fake.deliver(folder, raw, when)

    def flags(self, folder: str, uid: int) -> set[str]:
        """The keywords the fake keeps."""
        return set(self.fake.flags.get((folder, uid), set()))

    def recreate(self, folder: str, mails: Sequence[bytes]) -> None:
        """A new epoch, as a server that rebuilt its index."""
        self.fake.renumber(folder, self.fake.folders[folder].uidvalidity + 1, mails)


class DovecotBackend:
    """A real Dovecot account through `ImapMailbox`; the test's own changes go through imapclient."""

    def __init__(self, dovecot: DovecotServer, directory: Path, mediawiki: MediaWikiServer) -> None:
        space = new_space(dovecot, mediawiki, directory)
        self.dovecot = dovecot
        self.user = space.user
        self.settings: MailboxSettings = space.settings().mailboxes[0]

    def session(self) -> AbstractContextManager[Mailbox]:
        """A new IMAP session of the bridge's adapter."""
        return ImapMailbox(self.settings.name, self.settings.account)

    @contextmanager
    def _client(self) -> Iterator[Any]:
        from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]

        client = IMAPClient(self.dovecot.host, port=self.dovecot.port, ssl=False, timeout=10)
        client.login(self.user, self.dovecot.users[self.user])
        try:
            yield client
        finally:
            client.logout()

    def create_folder(self, folder: str) -> None:
        """CREATE."""
        with self._client() as client:
            client.create_folder(folder)

    def deliver(self, folder: str, raw: bytes, when: datetime) -> int:
        """APPEND with the given INTERNALDATE."""
        uid = append_mail(self.dovecot, self.user, folder, raw, msg_time=when)
        assert uid is not None
        return uid

    def flags(self, folder: str, uid: int) -> set[str]:
        """FETCH FLAGS in a read-only session; \\Recent is left out (it depends on the session)."""
        with self._client() as client:
            client.select_folder(folder, readonly=True)
            found = client.get_flags([uid]).get(uid, ())
        return {flag.decode() if isinstance(flag, bytes) else str(flag) for flag in found} - {"\\Recent"}

    def recreate(self, folder: str, mails: Sequence[bytes]) -> None:
        """DELETE, CREATE and APPEND: Dovecot gives the new folder a new UIDVALIDITY."""
        with self._client() as client:
            client.delete_folder(folder)
            client.create_folder(folder)
            for raw in mails:
                client.append(folder, raw)


class WikiBackend(Protocol):
    """A wiki and the `Wiki` port onto it."""

    def client(self) -> Wiki:
        """The bridge's view of the wiki."""
        ...

    def put_page(self, title: str, text: str) -> None:
        """Create or replace a page as a person would."""
        ...


class FakeWikiBackend:
    """The in-memory wiki."""

    def __init__(self) -> None:
        self.fake = FakeWiki()

    def client(self) -> Wiki:
        """The fake itself."""
        return self.fake

    def put_page(self, title: str, text: str) -> None:
        """A person's edit in memory."""
        self.fake.put_page(title, text)


class MediaWikiBackend:
    """A real MediaWiki through `WikiClient`, logged in as the bridge's bot."""

    def __init__(self, dovecot: DovecotServer, directory: Path, mediawiki: MediaWikiServer) -> None:
        self._wiki = WikiClient(new_space(dovecot, mediawiki, directory).settings().wiki)

    def client(self) -> Wiki:
        """The bridge's wiki adapter."""
        return self._wiki

    def put_page(self, title: str, text: str) -> None:
        """Save the page over whatever is there."""
        page = self._wiki.page_content(title)
        if page is None:
            assert self._wiki.create_page(title, text, "a person's page") is not None
        else:
            self._wiki.replace_page(title, text, "a person's edit", page.revision)

    def close(self) -> None:
        """Drop the HTTP session."""
        self._wiki.close()


class SenderBackend(Protocol):
    """A mail server and the `Sender` port onto it."""

    def sender(self) -> Sender:
        """The bridge's SMTP session."""
        ...

    def delivered(self) -> list[tuple[str, bytes]]:
        """(recipient, mail data) of every mail the server took, in order."""
        ...

    def refusing(self) -> AbstractContextManager[None]:
        """While inside, the server refuses mail with a temporary error (451)."""
        ...

    def losing_answer(self) -> AbstractContextManager[None]:
        """While inside, the connection breaks after the server took the mail, before its 250."""
        ...


class FakeSenderBackend:
    """The in-memory SMTP server."""

    def __init__(self) -> None:
        self.fake = FakeSender()

    def sender(self) -> Sender:
        """The fake itself."""
        return self.fake

    def delivered(self) -> list[tuple[str, bytes]]:
        """What the fake took."""
        return list(self.fake.delivered)

    @contextmanager
    def refusing(self) -> Iterator[None]:
        """Script a refusal for the next send."""
        self.fake.faults[self.fake.attempts] = "refused"
        yield
        self.fake.faults.clear()

    @contextmanager
    def losing_answer(self) -> Iterator[None]:
        """Script a lost answer after the data for the next send."""
        self.fake.faults[self.fake.attempts] = "lost_after_data"
        yield
        self.fake.faults.clear()


class SinkBackend:
    """The aiosmtpd sink through the bridge's `Mailer` (plain SMTP on loopback)."""

    def __init__(
        self, sink: SmtpSink, dovecot: DovecotServer, directory: Path, mediawiki: MediaWikiServer
    ) -> None:
        space = new_space(dovecot, mediawiki, directory)
        space.write_config(smtp=smtp_section(sink), address="team-sales@example.de")
        smtp = space.settings().smtp
        assert smtp is not None
        self.sink = sink
        self.mailer = Mailer(smtp)

    def sender(self) -> Sender:
        """The bridge's SMTP adapter."""
        return self.mailer

    def delivered(self) -> list[tuple[str, bytes]]:
        """What the sink recorded (one recipient per mail, as the bridge sends)."""
        return [(mail.rcpt_tos[0], mail.data) for mail in self.sink.messages]

    @contextmanager
    def refusing(self) -> Iterator[None]:
        """Make the sink answer 451 to the recipient."""
        self.sink.refuse("451 4.7.1 Try again later", "RCPT")
        try:
            yield
        finally:
            self.sink.refuse(None)

    @contextmanager
    def losing_answer(self) -> Iterator[None]:
        """Make the sink record the mail and close the connection instead of answering 250."""
        self.sink.drop_connection("DATA")
        try:
            yield
        finally:
            self.sink.drop_connection(None)

    def close(self) -> None:
        """Say goodbye to the sink."""
        self.mailer.close()
