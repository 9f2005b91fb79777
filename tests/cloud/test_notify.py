"""``fraud-mlops notify`` against a local webhook server and a local SMTP responder."""

from __future__ import annotations

import email
import socket
from email import policy

import pytest

from fraud_mlops.cloud.notify import EmailSettings, Notice, parse_link, send_all
from fraud_mlops.errors import ConfigError
from tests.support.local_servers import SmtpServer, WebhookServer
from tests.support.release_world import write_metrics

SECRET_HOOK_PATH = "/services/T000/B000/XXXXsecretXXXX"
PASSWORD = "s3cr3t-smtp-pw"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("SLACK_WEBHOOK_URL", "SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASSWORD",
                "SMTP_STARTTLS", "NOTIFY_EMAIL_TO", "NOTIFY_EMAIL_FROM"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _email_env(monkeypatch: pytest.MonkeyPatch, port: int, **extra: str) -> None:
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("SMTP_STARTTLS", "false")
    monkeypatch.setenv("NOTIFY_EMAIL_TO", "fraud-team@example.com, oncall@example.com")
    monkeypatch.setenv("NOTIFY_EMAIL_FROM", "jenkins@example.com")
    for key, value in extra.items():
        monkeypatch.setenv(key, value)


def test_success_goes_to_slack_and_email_with_metrics_and_links(clean_env, cli, tmp_path):
    lakehouse = tmp_path / "lake"
    write_metrics(lakehouse, "sfn-jenkins-42")
    clean_env.setenv("LAKEHOUSE_URI", str(lakehouse))
    with WebhookServer() as hook, SmtpServer() as smtp:
        clean_env.setenv("SLACK_WEBHOOK_URL", hook.url + SECRET_HOOK_PATH)
        _email_env(clean_env, smtp.port)
        code, out, err = cli(
            "notify", "--status", "success", "--title", "fraud-mlops dev",
            "--run-id", "sfn-jenkins-42", "--link", "Jenkins=https://ci.example.com/job/42/",
            "--link", "https://console.aws.amazon.com/states/x",
        )  # fmt: skip
    assert code == 0, err
    assert "slack: sent" in out and "email: sent to 2 recipient(s)" in out

    (post,) = hook.posts
    assert post["path"] == SECRET_HOOK_PATH and post["content_type"] == "application/json"
    text = post["json"]["text"]
    assert text.startswith("[SUCCESS] fraud-mlops dev (run sfn-jenkins-42)")
    assert "pr_auc" in text and "0.6100" in text and "became champion" in text
    blocks = post["json"]["blocks"]
    assert "<https://ci.example.com/job/42/|Jenkins>" in blocks[-1]["elements"][0]["text"]
    assert "<https://console.aws.amazon.com/states/x|console.aws.amazon.com>" in str(blocks)

    (mail,) = smtp.mails
    assert mail.sender == "jenkins@example.com"
    assert mail.recipients == ["fraud-team@example.com", "oncall@example.com"]
    assert mail.auth is None  # no SMTP_USER: no login
    parsed = email.message_from_string(mail.data, policy=policy.default)
    assert parsed["Subject"] == "[SUCCESS] fraud-mlops dev (run sfn-jenkins-42)"
    body = parsed.get_content()
    assert "roc_auc" in body and "Jenkins: https://ci.example.com/job/42/" in body


def test_failed_channels_warn_exit_0_and_never_print_secrets(clean_env, cli):
    with WebhookServer(status=404, body="no_service") as hook:
        clean_env.setenv("SLACK_WEBHOOK_URL", hook.url + SECRET_HOOK_PATH)
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]
        _email_env(clean_env, dead, SMTP_PASSWORD=PASSWORD, SMTP_USER="jenkins")
        code, out, err = cli("notify", "--status", "failure", "--detail", "stage: Gate")
    assert code == 0
    assert "warning: slack: failed: HTTPError: HTTP Error 404" in err
    assert "warning: email: failed:" in err and "(the pipeline continues)" in err
    assert "XXXXsecretXXXX" not in out + err and PASSWORD not in out + err


def test_password_is_never_sent_without_starttls(clean_env, cli):
    with SmtpServer() as smtp:
        _email_env(clean_env, smtp.port, SMTP_USER="jenkins", SMTP_PASSWORD=PASSWORD)
        code, _, err = cli("notify", "--status", "success")
    assert code == 0
    assert "refusing SMTP login without STARTTLS" in err
    assert "AUTH" not in smtp.commands and smtp.mails == []


def test_starttls_is_required_by_default(clean_env, cli):
    with SmtpServer() as smtp:  # offers no STARTTLS, like a misconfigured relay
        _email_env(clean_env, smtp.port)
        clean_env.delenv("SMTP_STARTTLS")
        code, _, err = cli("notify", "--status", "success")
    assert code == 0 and "STARTTLS extension not supported" in err and smtp.mails == []


def test_nothing_configured_is_skipped_not_failed(clean_env, cli):
    code, out, err = cli("notify", "--status", "success")
    assert code == 0 and "slack: skipped" in out and "email: skipped" in out and not err


def test_half_configured_email_names_every_problem(clean_env):
    env = {"SMTP_HOST": "mail", "SMTP_PORT": "99999", "SMTP_USER": "u", "SMTP_STARTTLS": "maybe"}
    with pytest.raises(ConfigError) as info:
        EmailSettings.from_env(env)
    for part in ("SMTP_PORT='99999'", "NOTIFY_EMAIL_TO", "NOTIFY_EMAIL_FROM", "SMTP_STARTTLS",
                 "SMTP_PASSWORD is not"):  # fmt: skip
        assert part in str(info.value)
    outcomes = send_all(Notice("success", "t"), env)
    assert [o.channel for o in outcomes] == ["slack", "email"]
    assert outcomes[1].note.startswith("failed: ConfigError")


def test_links_and_bad_status(cli):
    assert parse_link("Run=https://x.example/a=b") == ("Run", "https://x.example/a=b")
    assert parse_link("https://x.example/a=b") == ("x.example", "https://x.example/a=b")
    with pytest.raises(ConfigError, match="LABEL=URL"):
        parse_link("not a url")
    with pytest.raises(SystemExit) as info:
        cli("notify", "--status", "maybe")
    assert info.value.code == 2
