"""Sending mail: an outbox in the database, delivered over SMTP in the background.

A request that sends mail (an invitation, a password reset, a substitute's sign-in code)
only adds an `OutboxMail` row, in the same transaction as the change it reports, so a
mail the user was told about is never lost and a rolled-back request sends nothing.
Delivery happens outside the request, with the standard library (`smtplib`, `email`):

- right after the commit, a sender thread of the process is woken (`_wake_after_commit`)
  and delivers what is due;
- the housekeeping job `mail.deliver` (every worker's housekeeping thread, or
  `flask housekeeping` from cron) delivers what is due too, so retries happen and a
  mail queued by a process that died is still sent.

Each attempt first takes the mail with one conditional UPDATE that pushes its
`next_attempt_at` ahead (a lease) and commits, so two processes never send the same
mail; a sender that dies mid-send leaves it to be retried when the lease ends. A failed
attempt (SMTP down, refused, timed out: every socket operation is bounded by
`SMTP_TIMEOUT_SECONDS`) is retried with doubling waits (1 minute up to 1 hour), and
given up after `MAX_ATTEMPTS` or once its link has expired; admins see each mail's
state on the staff page. No address or link is ever logged: a failure is logged by
its outbox id and the error's kind.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import Flask, current_app
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from shared.database import write_intent
from shared.extensions import db
from shared.models import AccountLink, Guardian, OutboxMail, SubstituteAssignment, User
from shared.timeutil import utcnow

log = logging.getLogger(__name__)

#: Where the sender puts the account link into a queued body.
LINK_MARK = "{link}"
#: Where the sender puts a substitute's sign-in code into a queued body.
CODE_MARK = "{code}"
MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)
#: How long a sender holds a mail it took before another may try it (longer than a send).
LEASE = timedelta(minutes=5)
#: Most mails one delivery run sends (the rest wait for the next run).
BATCH = 50
_QUEUED = "passline_mail_queued"


def configured(app: Flask | None = None) -> bool:
    """True when SMTP is set up (SMTP_HOST; MAIL_FROM and PUBLIC_URL come with it)."""
    return bool((app or current_app).config.get("SMTP_HOST"))


# ------------------------------------------------------------------ the outbox


def enqueue(
    *,
    kind: str,
    to: User | Guardian | SubstituteAssignment,
    subject: str,
    body: str,
    school_id: int | None,
    link: AccountLink | None = None,
) -> OutboxMail:
    """Queue a mail to a staff member, a guardian or a substitute (at the address the
    office gave) in the current transaction; it is sent after the commit."""
    guardian = isinstance(to, Guardian)
    substitute = isinstance(to, SubstituteAssignment)
    mail = OutboxMail(
        kind=kind,
        user_id=None if guardian or substitute else to.id,
        guardian_id=to.id if guardian else None,
        substitute_id=to.id if substitute else None,
        to_address=to.contact if substitute else to.email,
        subject=subject,
        body=body,
        school_id=school_id,
        link_id=link.id if link is not None else None,
        next_attempt_at=utcnow(),
    )
    db.session.add(mail)
    db.session.info[_QUEUED] = True
    return mail


def retry_wait(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 1, 2, 4... minutes, at most an hour."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_RETRY)


@dataclass(frozen=True)
class Status:
    """How a queued mail went, for the admin: "sent", "waiting" (will be retried) or
    "failed" (given up), with the last error."""

    state: str
    attempts: int
    at: datetime | None
    error: str | None


def status_of(mail: OutboxMail) -> Status:
    if mail.sent_at is not None:
        return Status("sent", mail.attempts, mail.sent_at, None)
    if mail.failed_at is not None:
        return Status("failed", mail.attempts, mail.failed_at, mail.last_error)
    return Status("waiting", mail.attempts, mail.next_attempt_at, mail.last_error)


def latest_by_user(school_id: int) -> dict[int, OutboxMail]:
    """The newest mail to each person, among the mails queued for this school."""
    mails = db.session.scalars(
        select(OutboxMail)
        .where(OutboxMail.school_id == school_id, OutboxMail.user_id.is_not(None))
        .order_by(OutboxMail.created_at, OutboxMail.id)
    )
    return {mail.user_id: mail for mail in mails}


def latest_by_guardian(guardian_ids: list[int]) -> dict[int, OutboxMail]:
    """The newest mail to each of these guardians (sign-in links, confirmations, the
    office's notices), for the office's family screen."""
    if not guardian_ids:
        return {}
    mails = db.session.scalars(
        select(OutboxMail)
        .where(OutboxMail.guardian_id.in_(guardian_ids))
        .order_by(OutboxMail.created_at, OutboxMail.id)
    )
    return {mail.guardian_id: mail for mail in mails}


# ------------------------------------------------------------------ sending


def build_message(app: Flask, mail: OutboxMail, body: str) -> EmailMessage:
    """The message as it goes out: plain text, UTF-8, with its own Message-ID."""
    message = EmailMessage()
    message["From"] = app.config["MAIL_FROM"]
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=app.config["MAIL_FROM"].rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


def send_message(app: Flask, message: EmailMessage) -> None:
    """Send one message over SMTP as configured; every socket operation is bounded."""
    config = app.config
    host, port, timeout = config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_TIMEOUT_SECONDS"]
    context = ssl.create_default_context(cafile=config.get("SMTP_CA_FILE") or None)
    if config["SMTP_SECURITY"] == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        if config["SMTP_SECURITY"] == "starttls":
            client.starttls(context=context)
        if config["SMTP_USER"]:
            client.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
        client.send_message(message)


def describe_error(error: Exception) -> str:
    """What the admin is shown: the error's kind and SMTP code, no address, no message text
    (an SMTP refusal repeats the recipient's address)."""
    code = getattr(error, "smtp_code", None)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(c) for c, _ in error.recipients.values()})
        code = "/".join(codes)
    kind = type(error).__name__
    return f"{kind} {code}" if code else kind


def _take(mail_id: int, now: datetime) -> bool:
    """Take one due mail for this sender (a lease); False when another sender has it."""
    taken = db.session.execute(
        update(OutboxMail)
        .where(
            OutboxMail.id == mail_id,
            OutboxMail.sent_at.is_(None),
            OutboxMail.failed_at.is_(None),
            OutboxMail.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + LEASE, attempts=OutboxMail.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1


def deliver_due(app: Flask | None = None) -> int:
    """Send every mail that is due (at most BATCH); returns how many were sent.

    Commits as it goes (the lease, then the outcome), and holds no transaction while it
    talks to the SMTP server (SQLite's write lock would wait on it): call it where no
    other work is in the session (a housekeeping job, the sender thread).
    """
    app = app or current_app._get_current_object()
    if not configured(app):
        return 0
    with write_intent():  # SQLite: take the write lock at BEGIN, not halfway through
        due = db.session.scalars(
            select(OutboxMail.id)
            .where(
                OutboxMail.sent_at.is_(None),
                OutboxMail.failed_at.is_(None),
                OutboxMail.next_attempt_at <= utcnow(),
            )
            .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
            .limit(BATCH)
        ).all()
        db.session.commit()
        return sum(_deliver_one(app, mail_id) for mail_id in due)


def _deliver_one(app: Flask, mail_id: int) -> int:
    """Take, send and record one mail; 1 when it was sent."""
    from shared.account_links import link_url, mail_sent  # the links' rules live there
    from shared.substitutes import code_mailed, mail_code  # and the substitutes' codes'

    if not _take(mail_id, utcnow()):
        db.session.rollback()
        return 0
    mail = db.session.get(OutboxMail, mail_id)
    link = db.session.get(AccountLink, mail.link_id) if mail.link_id is not None else None
    url = link_url(app, link) if link is not None else None
    substitute = (
        db.session.get(SubstituteAssignment, mail.substitute_id)
        if mail.substitute_id is not None
        else None
    )
    code = mail_code(app, substitute) if substitute is not None else None
    error = None
    if link is not None and url is None:  # used, replaced or expired while it waited
        error = "the link was used, replaced or expired before it was sent"
    if substitute is not None and code is None:
        error = "the code was used, replaced or expired before it was sent"
    body = mail.body.replace(LINK_MARK, url or "")
    if substitute is not None:
        body = body.replace(CODE_MARK, code or "")
    message = build_message(app, mail, body)
    db.session.commit()  # the lease holds while we talk to the SMTP server
    if error is None:
        try:
            send_message(app, message)
        except (OSError, smtplib.SMTPException) as failure:  # socket errors, timeouts too
            error = describe_error(failure)
    mail = db.session.get(OutboxMail, mail_id)
    now = utcnow()
    if error is None:
        mail.sent_at, mail.last_error = now, None
        if mail.link_id is not None:
            mail_sent(db.session.get(AccountLink, mail.link_id))
        if mail.substitute_id is not None:
            code_mailed(db.session.get(SubstituteAssignment, mail.substitute_id))
    else:
        mail.last_error = error[:200]
        gone = (link is not None and url is None) or (substitute is not None and code is None)
        if mail.attempts >= MAX_ATTEMPTS or gone:
            mail.failed_at = now
        else:
            mail.next_attempt_at = now + retry_wait(mail.attempts)
        log.warning("mail %s not sent (attempt %s): %s", mail.id, mail.attempts, error)
    db.session.commit()
    return 1 if error is None else 0


# ------------------------------------------------------------------ the sender thread


class Sender:
    """One daemon thread per app and process that delivers as soon as it is woken."""

    def __init__(self, app: Flask, deliver: Callable[[Flask], int] = deliver_due):
        self.app, self.deliver = app, deliver
        self._wake, self._stop = threading.Event(), threading.Event()
        #: Set while the thread has nothing in hand: no delivery running, none asked for.
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wake(self) -> None:
        """Deliver what is due now (the thread starts at the first call)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="passline-mail", daemon=True)
                self._thread.start()
            self._idle.clear()
            self._wake.set()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every delivery asked for so far has recorded its outcome (a sent
        mail is marked sent only after the SMTP server took it); False on a timeout."""
        return self._idle.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread (tests; the process's end ends it anyway)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        self._idle.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                break
            with self.app.app_context():
                try:
                    self.deliver(self.app)
                except Exception:  # the housekeeping job tries again; never kill the thread
                    db.session.rollback()
                    log.exception("mail delivery failed")
                finally:
                    db.session.remove()
            with self._lock:
                if not self._wake.is_set():
                    self._idle.set()


def sender(app: Flask | None = None) -> Sender:
    """The app's sender (one per app in this process)."""
    app = app or current_app._get_current_object()
    existing = app.extensions.get("passline_mail_sender")
    if existing is None:
        existing = app.extensions.setdefault("passline_mail_sender", Sender(app))
    return existing


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    """A transaction that queued mail committed: wake this process's sender."""
    if session.info.pop(_QUEUED, False) and configured():
        sender().wake()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_QUEUED, None)
