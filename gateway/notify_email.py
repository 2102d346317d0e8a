"""Email sender: one digest message per delivery (all of a recipient's pending notices) over
SMTP, with STARTTLS and authentication when configured (smtplib)."""
import email.message
import json
import smtplib
import ssl

from gateway.notify import SendError


def digest_text(body):
    """The plain-language message for a delivery body (gateway/notify.py)."""
    notices = json.loads(body)["notices"]
    raised = sum(1 for n in notices if n["event"] == "raised")
    subject = "%d alert%s raised, %d cleared" % (raised, "" if raised == 1 else "s",
                                                  len(notices) - raised)
    lines = []
    for n in notices:
        a = n["alert"]
        lines.append("%s %s %s [%s]: %s" % (n["event"].upper(), a["kind"], a["meter"] or "gateway",
                                            a["severity"], a["explanation"]))
    return subject, "\n".join(lines) + "\n"


class EmailSender:
    def __init__(self, host, port, sender, user=None, password=None, starttls=False,
                 timeout_s=30.0, ssl_context=None):
        """password: from a file or the environment (gateway/__main__.py), never logged."""
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.starttls = user, password, starttls
        self.timeout_s = timeout_s
        self.ssl_context = ssl_context or ssl.create_default_context()

    def __call__(self, to, body):
        subject, text = digest_text(body)
        msg = email.message.EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, to, "[meters] " + subject
        msg.set_content(text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as s:
                if self.starttls:
                    s.starttls(context=self.ssl_context)
                if self.user:
                    s.login(self.user, self.password or "")
                s.send_message(msg)
                code, _ = s.noop()
                return code
        except smtplib.SMTPResponseException as e:
            raise SendError("SMTP %d" % e.smtp_code, e.smtp_code)
        except smtplib.SMTPException as e:   # refused recipients, no STARTTLS, ...
            raise SendError("SMTP: %s" % type(e).__name__)
