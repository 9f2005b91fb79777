"""Local stand-ins for a Slack incoming webhook and an SMTP relay, on 127.0.0.1 threads."""

from __future__ import annotations

import base64
import json
import socketserver
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookServer:
    """Answers POSTs like Slack: 200 ``ok``, or ``status``/``body`` when told to fail."""

    def __init__(self, status: int = 200, body: str = "ok"):
        self.status, self.body = status, body
        self.posts: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                server.posts.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type"),
                        "json": json.loads(self.rfile.read(length)),
                    }
                )
                data = server.body.encode()
                self.send_response(server.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> WebhookServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Mail:
    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    data: str = ""
    auth: str | None = None  # "user:password" when the client logged in


class SmtpServer:
    """A minimal RFC 5321 responder: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT (no STARTTLS)."""

    def __init__(self, advertise_auth: bool = True):
        self.mails: list[Mail] = []
        self.commands: list[str] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(f"{line}\r\n".encode())

            def handle(self) -> None:
                mail = Mail()
                self.reply("220 localhost ESMTP test")
                while raw := self.rfile.readline():
                    line = raw.decode().rstrip("\r\n")
                    verb = line.split(" ", 1)[0].upper()
                    outer.commands.append(verb)
                    if verb == "EHLO":
                        self.reply("250-localhost")
                        if advertise_auth:
                            self.reply("250-AUTH PLAIN")
                        self.reply("250 8BITMIME")
                    elif verb == "AUTH":
                        _, user, password = base64.b64decode(line.split()[2]).decode().split("\0")
                        mail.auth = f"{user}:{password}"
                        self.reply("235 2.7.0 Authentication successful")
                    elif verb == "MAIL":
                        mail.sender = line.split(":", 1)[1].split()[0].strip("<>")
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        mail.recipients.append(line.split(":", 1)[1].strip().strip("<>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        body = []
                        while (chunk := self.rfile.readline().decode()) not in (".\r\n", ""):
                            body.append(chunk)
                        mail.data = "".join(body)
                        outer.mails.append(mail)
                        mail = Mail(auth=mail.auth)
                        self.reply("250 OK queued")
                    elif verb == "QUIT":
                        self.reply("221 Bye")
                        return
                    else:
                        self.reply("502 Command not implemented")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def __enter__(self) -> SmtpServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
