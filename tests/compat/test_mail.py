"""Password recovery and email confirmation over real SMTP: GoTrue's /recover, /verify and /resend
through the official client (reset_password_for_email, verify_otp, resend), the mail captured by a
real SMTP server on loopback (aiosmtpd) — plain, and STARTTLS with AUTH against a self-signed
certificate — the codes single-use, short-lived and rate limited; and the mailed link followed in
Chromium to the app's "choose a new password" page."""
import base64
import email as email_parser
import os
import re
import ssl
import subprocess
import tempfile
import time
import uuid

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from playwright.sync_api import expect
from supabase import ClientOptions, create_client

from browsing import PASSWORD, browser, check, page  # noqa: F401 (fixtures)
from conftest import _free_port, server_keys, start_server, stop_server


class Inbox:
    """What the SMTP server received, by recipient."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"

    def wait(self, to, count=1, seconds=10):
        deadline = time.time() + seconds
        while time.time() < deadline:
            found = [m for rcpt, m in self.messages if to in rcpt]
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.1)
        raise AssertionError(f"no mail #{count} to {to} within {seconds} s")

    def count(self, to):
        return len([1 for rcpt, _ in self.messages if to in rcpt])


def read(raw):
    """(subject, text) of a captured mail; the body is base64 as the server sends it."""
    message = email_parser.message_from_bytes(raw)
    return message["Subject"], message.get_payload(decode=True).decode()


def code_and_link(raw):
    _, text = read(raw)
    return re.search(r"Your code: (\d{6})", text).group(1), re.search(r"(http\S+/auth/v1/verify\?\S+)", text).group(1)



def client(keys):
    return create_client(keys["url"], keys["anon_key"], options=ClientOptions(auto_refresh_token=False, persist_session=True))


def admin_user(keys, address, confirmed=True):
    service = create_client(keys["url"], keys["service_role_key"], options=ClientOptions(auto_refresh_token=False))
    service.auth.admin.create_user({"email": address, "password": PASSWORD, "email_confirm": confirmed})


@pytest.fixture(scope="module")
def mail_server():
    """A server whose mail goes to a plain SMTP server on loopback; links lead to the server itself."""
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    port = _free_port()
    keys = server_keys(*start_server(
        port=port, SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp.port), SMTP_TLS="none", SMTP_ADMIN_EMAIL="auth@feedfusion.test",
        SITE_URL=f"http://127.0.0.1:{port}", MAILER_OTP_EXPIRY_SECONDS="600"))
    yield keys, inbox
    stop_server(keys["process"])
    smtp.stop()


def test_recovery_by_code_through_the_official_client(mail_server):
    keys, inbox = mail_server
    address = f"recover-{uuid.uuid4().hex[:8]}@example.com"
    admin_user(keys, address)
    supabase = client(keys)
    supabase.auth.reset_password_for_email(address)
    raw = inbox.wait(address)
    subject, text = read(raw)
    assert subject == "Reset your password" and "auth@feedfusion.test" in email_parser.message_from_bytes(raw)["From"]
    code, _ = code_and_link(raw)
    # A wrong code is refused as GoTrue refuses it; then the right one signs in.
    with pytest.raises(Exception, match="expired or is invalid"):
        supabase.auth.verify_otp({"email": address, "token": "000000" if code != "000000" else "111111", "type": "recovery"})
    answer = supabase.auth.verify_otp({"email": address, "token": code, "type": "recovery"})
    assert answer.session is not None and answer.user.email == address
    new_password = "New-Password-" + uuid.uuid4().hex[:6] + "!"
    supabase.auth.update_user({"password": new_password})
    # The new password works, the old one does not, and the code works once.
    client(keys).auth.sign_in_with_password({"email": address, "password": new_password})
    with pytest.raises(Exception, match="Invalid login credentials"):
        client(keys).auth.sign_in_with_password({"email": address, "password": PASSWORD})
    with pytest.raises(Exception, match="expired or is invalid"):
        client(keys).auth.verify_otp({"email": address, "token": code, "type": "recovery"})


def test_sends_are_rate_limited_and_unknown_addresses_answer_the_same(mail_server):
    keys, inbox = mail_server
    address = f"limited-{uuid.uuid4().hex[:8]}@example.com"
    admin_user(keys, address)
    supabase = client(keys)
    supabase.auth.reset_password_for_email(address)
    inbox.wait(address)
    with pytest.raises(Exception, match="once every 60 seconds"):
        supabase.auth.reset_password_for_email(address)
    assert inbox.count(address) == 1
    # No account: the same answer, and no mail.
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    supabase.auth.reset_password_for_email(nobody)
    with pytest.raises(Exception, match="once every 60 seconds"):
        supabase.auth.reset_password_for_email(nobody)
    time.sleep(0.5)
    assert inbox.count(nobody) == 0


def test_five_wrong_codes_void_the_token(mail_server):
    keys, inbox = mail_server
    address = f"guess-{uuid.uuid4().hex[:8]}@example.com"
    admin_user(keys, address)
    supabase = client(keys)
    supabase.auth.reset_password_for_email(address)
    code, link = code_and_link(inbox.wait(address))
    wrong = [f"{n:06d}" for n in range(10) if f"{n:06d}" != code][:5]
    for guess in wrong:
        with pytest.raises(Exception, match="expired or is invalid"):
            supabase.auth.verify_otp({"email": address, "token": guess, "type": "recovery"})
    with pytest.raises(Exception, match="expired or is invalid"):
        supabase.auth.verify_otp({"email": address, "token": code, "type": "recovery"})
    # The link's token went with it.
    token = re.search(r"token=([^&]+)", link).group(1)
    with pytest.raises(Exception, match="expired or is invalid"):
        supabase.auth.verify_otp({"token_hash": token, "type": "recovery"})


def test_confirmation_at_sign_up_then_resend_and_link_token(mail_server):
    keys, inbox = mail_server
    env = dict(keys["env"])
    # A second server that requires confirmed addresses, mailing to the same SMTP server.
    port = _free_port()
    confirming = server_keys(*start_server(
        None, port, EMAIL_CONFIRMATION_REQUIRED="true",
        **{k: v for k, v in env.items() if k.startswith(("SMTP_", "MAILER_"))}, SITE_URL=f"http://127.0.0.1:{port}"))
    try:
        address = f"confirm-{uuid.uuid4().hex[:8]}@example.com"
        supabase = client(confirming)
        answer = supabase.auth.sign_up({"email": address, "password": PASSWORD})
        assert answer.session is None
        with pytest.raises(Exception, match="Email not confirmed"):
            client(confirming).auth.sign_in_with_password({"email": address, "password": PASSWORD})
        subject, _ = read(inbox.wait(address))
        assert subject == "Confirm your email"
        # A resend within the interval is refused; the first mail's link token still works.
        with pytest.raises(Exception, match="once every 60 seconds"):
            supabase.auth.resend({"type": "signup", "email": address})
        _, link = code_and_link(inbox.wait(address))
        token = re.search(r"token=([^&]+)", link).group(1)
        verified = supabase.auth.verify_otp({"token_hash": token, "type": "signup"})
        assert verified.session is not None and verified.user.email_confirmed_at is not None
        client(confirming).auth.sign_in_with_password({"email": address, "password": PASSWORD})
    finally:
        stop_server(confirming["process"])


def test_the_mailed_link_leads_to_the_apps_new_password_page(mail_server, page):
    keys, inbox = mail_server
    address = f"link-{uuid.uuid4().hex[:8]}@example.com"
    admin_user(keys, address)
    page.goto(keys["url"] + "/sign-in")
    page.get_by_role("link", name="Forgot your password?").click()
    check(page, "app-forgot-password")
    page.get_by_label("Email").fill(address)
    page.get_by_role("button", name="Send the mail").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    check(page, "app-reset-password")
    _, link = code_and_link(inbox.wait(address))
    assert "redirect_to=http%3A%2F%2F127.0.0.1" in link and "reset-password" in link
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    assert "refresh_token" not in page.url  # the fragment was taken and wiped
    check(page, "app-new-password")
    new_password = "Linked-Password-" + uuid.uuid4().hex[:6] + "!"
    page.get_by_label("New password").fill(new_password)
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_role("heading", name="Home")).to_be_visible()
    client(keys).auth.sign_in_with_password({"email": address, "password": new_password})
    # The same link again: refused, said on the page.
    page.goto(link)
    expect(page.get_by_role("alert")).to_contain_text("invalid or has expired")


def test_starttls_and_auth_with_a_private_ca(tmp_path):
    """SMTP_TLS=starttls with SMTP_USER/SMTP_PASS against a server that requires both, trusting a
    self-signed certificate through SMTP_CA_FILE."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"mailer" and auth_data.password == b"s3cret"
        logins.append((mechanism, ok))
        return AuthResult(success=ok)

    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=_free_port(), tls_context=context, require_starttls=True,
                      authenticator=authenticator, auth_required=True)
    smtp.start()
    process = None
    try:
        process, port, env, log = start_server(
            SMTP_HOST="localhost", SMTP_PORT=str(smtp.port), SMTP_TLS="starttls", SMTP_USER="mailer", SMTP_PASS="s3cret",
            SMTP_CA_FILE=str(cert))
        keys = server_keys(process, port, env, log)
        address = f"tls-{uuid.uuid4().hex[:8]}@example.com"
        admin_user(keys, address)
        client(keys).auth.reset_password_for_email(address)
        subject, _ = read(inbox.wait(address))
        assert subject == "Reset your password"
        assert logins == [("PLAIN", True)]
    finally:
        if process:
            stop_server(process)
        smtp.stop()
