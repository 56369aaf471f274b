#!/usr/bin/env python3
"""Generate examples/kb/quillnote-admin-guide.pdf, the example admin guide.

The whole text of the guide lives in this script (PAGES below), one string per
PDF page, so that each page carries its own facts. Needs fpdf2:

    python3 -m venv /tmp/pdfvenv && /tmp/pdfvenv/bin/pip install fpdf2
    /tmp/pdfvenv/bin/python examples/tools/make_admin_guide_pdf.py

Only the core font Helvetica and plain ASCII text are used, so the text
extracts cleanly with pypdf. Quillnote is a made-up product.

Page markup: "# " starts the page heading, "## " a subheading, "- " a bullet
item; other lines are paragraph text. Consecutive lines are joined with a
space, and a blank line ends a paragraph or bullet item.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF

OUT = Path(__file__).resolve().parent.parent / "kb" / "quillnote-admin-guide.pdf"

TITLE = "Quillnote Admin Guide for Team and Enterprise"

PAGES = [
    """
# 1. Introduction and admin roles

This guide is for administrators of Quillnote Team and Enterprise workspaces.
It describes Quillnote 4.3 as of November 2026. All settings in this guide are
made in the Admin Console at admin.quillnote.com, which only Workspace Owners,
Admins and Billing Managers can open.

## Roles in a workspace

- Workspace Owner: there is exactly one Owner per workspace. Only the Owner can
delete the workspace, transfer ownership and sign the data processing agreement.

- Admin: manages members, security settings, single sign-on and integrations.
A Team workspace can have up to 10 Admins; Enterprise has no limit.

- Billing Manager: manages payment methods, invoices and the number of seats,
but cannot see any notes.

- Member: a paid seat with full use of Quillnote.

- Guest: an outside person who can only open notebooks shared with them and
cannot create notebooks.

## Guests

Guests are free of charge. A workspace can invite up to 3 guests per paid seat,
so a workspace with 20 seats can have up to 60 guests. Guests always sign in
with their own Quillnote account, never through your single sign-on.

## Transferring workspace ownership

Open Admin Console > Settings > Workspace > Transfer ownership and choose the
new Owner. The new Owner must already be an Admin. They must accept the transfer
with the link in the email we send them within 72 hours; otherwise the transfer
is cancelled. The previous Owner becomes an Admin.
""",
    """
# 2. Single sign-on with SAML 2.0

SAML single sign-on (SSO) is available on Team and Enterprise. We have tested
Okta, Microsoft Entra ID, Google Workspace, OneLogin and JumpCloud; any identity
provider that supports SAML 2.0 should work.

## Step 1: Verify your domain

Open Admin Console > Security > Domains > Add domain. Quillnote shows a DNS TXT
record that starts with quillnote-verification=. Add it at your DNS provider and
select Verify. The verification token expires after 7 days; if you have not
verified by then, start again with a new token.

## Step 2: Create the SAML app in your identity provider

- ACS URL: https://auth.quillnote.com/saml/acs

- Entity ID: https://auth.quillnote.com/saml/metadata/<workspace-id>

- NameID format: email address

- Signature: SHA-256 signed assertions

Your workspace ID is shown in Admin Console > Settings > Workspace.

## Step 3: Connect Quillnote

Open Admin Console > Security > Single sign-on > Configure SAML. Upload the
metadata XML from your identity provider, or paste the SSO URL and the X.509
certificate. Select Test sign-in before you switch SSO on for everyone.

## Enforcing SSO

In Optional mode, members can use SSO or their password. In Required mode,
members of verified domains can only sign in through SSO. The Workspace Owner
always keeps a break-glass sign-in with password and 2FA at
admin.quillnote.com/recovery, so an identity provider outage cannot lock you out.

## Certificates and sessions

Quillnote emails all Admins 30 days before your identity provider certificate
expires. SSO sessions last 7 days by default. On Team, just-in-time provisioning
creates a seat the first time a new person signs in through SSO.
""",
    """
# 3. User provisioning with SCIM 2.0

SCIM provisioning is available on Enterprise only. With SCIM, your identity
provider creates, updates and deactivates Quillnote accounts automatically, so
people get access on their first day and lose it on their last.

## Connection details

- SCIM base URL: https://api.quillnote.com/scim/v2

- Supported resources: Users and Groups

- Groups become teams in Quillnote and can be used for sharing notebooks.

- Attributes: userName (the email address), name.givenName, name.familyName, title

## Creating a SCIM token

Open Admin Console > Security > Provisioning > Generate SCIM token. Copy the
token into your identity provider straight away: it is shown only once.

A SCIM token is valid for 365 days. Quillnote emails all Admins 14 days before a
token expires. You can have at most 2 active tokens at the same time, which lets
you create a new token, update your identity provider and then revoke the old
one without any gap.

## Rate limit

The SCIM API accepts 100 requests per minute per workspace. This limit is
separate from the limits of the Quillnote REST API.

## Deprovisioning

When your identity provider sets a user to active: false or deletes the user,
Quillnote suspends the account immediately. The person is signed out on all
devices within 5 minutes. Their notes are kept for 30 days, during which an
Admin can transfer them to another member. After 30 days, notes that were not
transferred are moved to the Workspace Owner.
""",
    """
# 4. Audit log

The audit log records what happens in your workspace: who signed in, who shared
what, who exported data and which settings Admins changed.

## Retention

- Team: audit log entries are kept for 90 days.

- Enterprise: audit log entries are kept for 3 years.

Entries cannot be edited or deleted by anyone, including the Workspace Owner.

## What is recorded

About 60 event types in six groups: sign-in and SSO, member changes, sharing and
public links, exports, API tokens and integrations, and admin settings. Each
entry has a timestamp in UTC, the actor, the IP address and the object.

## Viewing and exporting

Open Admin Console > Security > Audit log. Filter by person, event type and date
range. Select Export CSV to download the filtered entries; one CSV file holds up
to 100,000 rows, so split longer time ranges into several exports.

## Streaming to your SIEM

Enterprise workspaces can stream audit events to Splunk (HTTP Event Collector),
Datadog Logs or any HTTPS endpoint. Set it up in Admin Console > Security >
Audit log > Streaming. Events arrive within 60 seconds of happening.
""",
    """
# 5. Data residency

Each Team and Enterprise workspace stores its content in one data region. Choose
the region when you create the workspace:

- EU: Frankfurt, Germany

- US: Oregon, United States

- Australia: Sydney

Notes, attachments, the search index, version history and backups all stay in
the chosen region. Billing data is always processed by Quillnote Labs GmbH in
Germany.

## Personal notes of members

If a person who already has a personal Quillnote account joins your workspace,
their personal notes stay in the region of their personal account. Only notes in
workspace notebooks are stored in the workspace region.

## Moving a workspace to another region

Region migration is available on Enterprise only. Ask your account manager to
schedule it; a workspace can be migrated at most once every 12 months. The
migration runs over a weekend, and the workspace is read-only for up to 48 hours
while it runs. Team workspaces cannot be migrated: create a new workspace in the
other region and move notebooks with a Quillnote Archive (.qnx) export.

## Getting help

Enterprise Admins can call the support phone line 24/7 for urgent issues. All
other questions: support@quillnote.com.
""",
]


def parse(page: str) -> list[tuple[str, str]]:
    """Split one page's markup into (kind, text) blocks: h1, h2, li or p."""
    blocks: list[tuple[str, str]] = []
    for chunk in page.strip().split("\n\n"):
        text = " ".join(chunk.split())
        for prefix, kind in (("# ", "h1"), ("## ", "h2"), ("- ", "li")):
            if text.startswith(prefix):
                blocks.append((kind, text.removeprefix(prefix)))
                break
        else:
            blocks.append(("p", text))
    return blocks


class GuidePDF(FPDF):
    def header(self) -> None:
        if self.page_no() == 1:  # the title page carries the big title instead
            self.ln(6)
            return
        self.set_font("Helvetica", "I", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 6, TITLE, align="L")
        self.ln(10)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", "I", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 6, f"Page {self.page_no()} of {len(PAGES)}", align="C")


def build(out: Path = OUT) -> Path:
    pdf = GuidePDF(format="A4")
    pdf.set_margins(20, 15, 20)
    pdf.set_auto_page_break(auto=False)
    pdf.set_title(TITLE)
    pdf.set_author("Quillnote Labs GmbH (fictional)")
    pdf.set_subject("Example knowledge base for qabot")
    pdf.set_creator("examples/tools/make_admin_guide_pdf.py")
    # A fixed date keeps the output byte-for-byte reproducible.
    pdf.set_creation_date(datetime(2026, 11, 18, tzinfo=UTC))
    for page in PAGES:
        pdf.add_page()
        if pdf.page_no() == 1:
            pdf.set_font("Helvetica", "B", 18)
            pdf.multi_cell(0, 9, TITLE)
            pdf.ln(4)
        last = None
        for kind, text in parse(page):
            if kind == "h1":
                pdf.set_font("Helvetica", "B", 14)
                pdf.multi_cell(0, 8, text)
                pdf.ln(2)
            elif kind == "h2":
                pdf.ln(2)
                pdf.set_font("Helvetica", "B", 11)
                pdf.multi_cell(0, 6, text)
                pdf.ln(1)
            elif kind == "li":
                pdf.set_font("Helvetica", "", 10)
                pdf.set_x(pdf.l_margin + 4)
                pdf.multi_cell(0, 5, "- " + text)
                pdf.ln(1)
            else:
                if last == "li":
                    pdf.ln(1)
                pdf.set_font("Helvetica", "", 10)
                pdf.multi_cell(0, 5, text)
                pdf.ln(2)
            last = kind
        if pdf.get_y() > pdf.h - 18:
            raise RuntimeError(f"page {pdf.page_no()} overflows; shorten it")
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))
    return out


if __name__ == "__main__":
    print(build())
