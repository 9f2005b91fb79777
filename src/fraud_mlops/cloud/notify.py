"""Tell the team how a pipeline run went: Slack incoming webhook and SMTP email.

A notification is a courtesy, never a gate: :func:`send_all` catches every failure, turns it
into a warning and returns, so a broken webhook cannot fail a deploy that worked. Secrets (the
webhook URL is one: it carries its own token; the SMTP password) are read from the environment,
never defaulted, and scrubbed from every message this module prints. ``SLACK_WEBHOOK_URL`` unset
means no Slack message; the email variables are :class:`EmailSettings`' fields (README:
"Configuration reference").
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import NoDecode

from fraud_mlops.errors import ConfigError
from fraud_mlops.settings_base import BLANK_IS_UNSET, EnvSettings, Problems, Text, secret_value

STATUSES = ("success", "failure")
_ICONS = {"success": ":white_check_mark:", "failure": ":x:"}


@dataclass(frozen=True)
class Notice:
    """What to say: status, a title, the run, headline metrics and links (label, URL)."""

    status: str
    title: str
    run_id: str | None = None
    details: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)

    def subject(self) -> str:
        run = f" (run {self.run_id})" if self.run_id else ""
        return f"[{self.status.upper()}] {self.title}{run}"

    def text(self) -> str:
        lines = [self.subject(), *self.details]
        lines += [f"{label}: {url}" for label, url in self.links]
        return "\n".join(lines)

    def slack_payload(self) -> dict:
        """``text`` for notifications/fallback plus Block Kit sections for the message itself."""
        head = f"{_ICONS.get(self.status, '')} *{self.subject()}*".strip()
        blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
        if self.details:
            body = "```" + "\n".join(self.details) + "```"
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
        if self.links:
            links = " | ".join(f"<{url}|{label}>" for label, url in self.links)
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
        return {"text": self.text(), "blocks": blocks}


@dataclass(frozen=True)
class Outcome:
    channel: str
    sent: bool
    note: str


def _addresses(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(a.strip() for a in value.split(",") if a.strip())
    return value


class EmailSettings(EnvSettings):
    """The SMTP relay and the addresses; :meth:`from_env` is None when ``SMTP_HOST`` is unset."""

    host: Text = Field(validation_alias="SMTP_HOST", description="mail relay; unset = no email")
    port: Annotated[int, BLANK_IS_UNSET] = Field(
        587, ge=1, le=65535, validation_alias="SMTP_PORT", description="mail relay port"
    )
    sender: Text = Field(
        "", validation_alias="NOTIFY_EMAIL_FROM", description="the sender address (required)"
    )
    # NoDecode: a comma-separated list, not the JSON pydantic-settings expects by default
    recipients: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_addresses)] = Field(
        (),
        validation_alias="NOTIFY_EMAIL_TO",
        description="comma-separated recipient addresses (required)",
    )
    user: Text | None = Field(
        None, validation_alias="SMTP_USER", description="login; unset = no login"
    )
    password: SecretStr | None = Field(
        None, validation_alias="SMTP_PASSWORD", description="password of SMTP_USER", repr=False
    )
    starttls: bool = Field(
        True,
        validation_alias="SMTP_STARTTLS",
        description="STARTTLS before login; the password is never sent in clear text",
    )

    @model_validator(mode="after")
    def _complete(self) -> EmailSettings:
        problems = []
        if not self.recipients:
            problems.append("NOTIFY_EMAIL_TO is empty: give comma-separated addresses")
        if not self.sender:
            problems.append("NOTIFY_EMAIL_FROM is empty: give the sender address")
        if self.user and not secret_value(self.password):
            problems.append("SMTP_USER is set but SMTP_PASSWORD is not")
        if problems:
            raise Problems(problems)
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self | None:  # type: ignore[override]
        """None when ``SMTP_HOST`` is unset (email off); ConfigError when it is half set."""
        env = os.environ if env is None else env
        if not (env.get("SMTP_HOST") or "").strip():
            return None
        try:
            return super().from_env(env)
        except ConfigError as exc:
            raise ConfigError(f"email notification settings: {exc}") from None


def parse_link(text: str) -> tuple[str, str]:
    """``LABEL=URL`` or a bare URL (labelled by its host)."""
    label, sep, url = text.partition("=")
    if not sep or "://" in label:
        label, url = "", text
    if "://" not in url:
        raise ConfigError(f"--link {text!r}: expected URL or LABEL=URL with an http(s) URL")
    return (label.strip() or url.split("://", 1)[1].split("/", 1)[0]), url.strip()


def send_slack(webhook_url: str, notice: Notice, timeout: float = 10.0) -> None:
    """POST the notice to a Slack incoming webhook; raises on anything but HTTP 200."""
    import urllib.request

    request = urllib.request.Request(
        webhook_url,
        data=json.dumps(notice.slack_payload()).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if response.status != 200:
            raise RuntimeError(f"Slack answered HTTP {response.status}")


def send_email(settings: EmailSettings, notice: Notice, timeout: float = 15.0) -> None:
    """Send the notice as a plain-text email; STARTTLS before any login."""
    import smtplib
    import ssl
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"] = notice.subject()
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message.set_content(notice.text())
    with smtplib.SMTP(settings.host, settings.port, timeout=timeout) as smtp:
        smtp.ehlo()
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.user:
            if not settings.starttls:
                # Never send the password in clear text, even if the relay would accept it.
                raise RuntimeError("refusing SMTP login without STARTTLS (set SMTP_STARTTLS=true)")
            smtp.login(settings.user, secret_value(settings.password))
        smtp.send_message(message)


def send_all(notice: Notice, env: Mapping[str, str] | None = None) -> list[Outcome]:
    """Send to every configured channel. Never raises: failures come back as outcomes."""
    env = os.environ if env is None else env
    secrets = [v for k in ("SLACK_WEBHOOK_URL", "SMTP_PASSWORD") if (v := env.get(k))]
    outcomes: list[Outcome] = []

    webhook = env.get("SLACK_WEBHOOK_URL")
    if not webhook:
        outcomes.append(Outcome("slack", False, "skipped: SLACK_WEBHOOK_URL is not set"))
    else:
        try:
            send_slack(webhook, notice)
            outcomes.append(Outcome("slack", True, "sent"))
        except Exception as exc:  # a notification must never fail the pipeline
            outcomes.append(Outcome("slack", False, "failed: " + _scrub(exc, secrets)))

    try:
        email = EmailSettings.from_env(env)
    except ConfigError as exc:
        outcomes.append(Outcome("email", False, "failed: " + _scrub(exc, secrets)))
        return outcomes
    if email is None:
        outcomes.append(Outcome("email", False, "skipped: SMTP_HOST is not set"))
        return outcomes
    try:
        send_email(email, notice)
        outcomes.append(Outcome("email", True, f"sent to {len(email.recipients)} recipient(s)"))
    except Exception as exc:  # a notification must never fail the pipeline
        outcomes.append(Outcome("email", False, "failed: " + _scrub(exc, secrets)))
    return outcomes


def _scrub(exc: BaseException, secrets: Sequence[str]) -> str:
    text = f"{type(exc).__name__}: {exc}"
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
