#!/usr/bin/env python3
"""Generate examples/kb/quillnote-admin-guide.pdf, the example admin guide.

The whole text of the guide lives in this script (PAGES below), one entry per
PDF page, so that each page carries its own facts. Needs fpdf2:

    python3 -m venv /tmp/pdfvenv && /tmp/pdfvenv/bin/pip install fpdf2
    /tmp/pdfvenv/bin/python examples/tools/make_admin_guide_pdf.py

Only the core font Helvetica and plain ASCII text are used, so the text
extracts cleanly with pypdf. Quillnote is a made-up product.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from fpdf import FPDF

OUT = Path(__file__).resolve().parent.parent / "kb" / "quillnote-admin-guide.pdf"

TITLE = "Quillnote Admin Guide for Team and Enterprise"

# Each page: (section heading, [blocks]); a block is ("h", text) for a
# subheading, ("p", text) for a paragraph, or ("ul", [items]) for a bullet list.
PAGES: list[tuple[str, list]] = [
    (
        "1. Introduction and admin roles",
        [
            ("p", "This guide is for administrators of Quillnote Team and Enterprise workspaces. "
                  "It describes Quillnote 4.3 as of November 2026. All settings in this guide are "
                  "made in the Admin Console at admin.quillnote.com, which only Workspace Owners, "
                  "Admins and Billing Managers can open."),
            ("h", "Roles in a workspace"),
            ("ul", [
                "Workspace Owner: there is exactly one Owner per workspace. Only the Owner can "
                "delete the workspace, transfer ownership and sign the data processing agreement.",
                "Admin: manages members, security settings, single sign-on and integrations. "
                "A Team workspace can have up to 10 Admins; Enterprise has no limit.",
                "Billing Manager: manages payment methods, invoices and the number of seats, "
                "but cannot see any notes.",
                "Member: a paid seat with full use of Quillnote.",
                "Guest: an outside person who can only open notebooks shared with them and "
                "cannot create notebooks.",
            ]),
            ("h", "Guests"),
            ("p", "Guests are free of charge. A workspace can invite up to 3 guests per paid seat, "
                  "so a workspace with 20 seats can have up to 60 guests. Guests always sign in "
                  "with their own Quillnote account, never through your single sign-on."),
            ("h", "Transferring workspace ownership"),
            ("p", "Open Admin Console > Settings > Workspace > Transfer ownership and choose the new "
                  "Owner. The new Owner must already be an Admin. They must accept the transfer with "
                  "the link in the email we send them within 72 hours; otherwise the transfer is "
                  "cancelled. The previous Owner becomes an Admin."),
        ],
    ),
    (
        "2. Single sign-on with SAML 2.0",
        [
            ("p", "SAML single sign-on (SSO) is available on Team and Enterprise. We have tested "
                  "Okta, Microsoft Entra ID, Google Workspace, OneLogin and JumpCloud; any identity "
                  "provider that supports SAML 2.0 should work."),
            ("h", "Step 1: Verify your domain"),
            ("p", "Open Admin Console > Security > Domains > Add domain. Quillnote shows a DNS TXT "
                  "record that starts with quillnote-verification=. Add it at your DNS provider and "
                  "select Verify. The verification token expires after 7 days; if you have not "
                  "verified by then, start again with a new token."),
            ("h", "Step 2: Create the SAML app in your identity provider"),
            ("ul", [
                "ACS URL: https://auth.quillnote.com/saml/acs",
                "Entity ID: https://auth.quillnote.com/saml/metadata/<workspace-id>",
                "NameID format: email address",
                "Signature: SHA-256 signed assertions",
            ]),
            ("p", "Your workspace ID is shown in Admin Console > Settings > Workspace."),
            ("h", "Step 3: Connect Quillnote"),
            ("p", "Open Admin Console > Security > Single sign-on > Configure SAML. Upload the "
                  "metadata XML from your identity provider, or paste the SSO URL and the X.509 "
                  "certificate. Select Test sign-in before you switch SSO on for everyone."),
            ("h", "Enforcing SSO"),
            ("p", "In Optional mode, members can use SSO or their password. In Required mode, "
                  "members of verified domains can only sign in through SSO. The Workspace Owner "
                  "always keeps a break-glass sign-in with password and 2FA at "
                  "admin.quillnote.com/recovery, so an identity provider outage cannot lock you out."),
            ("h", "Certificates and sessions"),
            ("p", "Quillnote emails all Admins 30 days before your identity provider certificate "
                  "expires. SSO sessions last 7 days by default. On Team, just-in-time provisioning "
                  "creates a seat the first time a new person signs in through SSO."),
        ],
    ),
    (
        "3. User provisioning with SCIM 2.0",
        [
            ("p", "SCIM provisioning is available on Enterprise only. With SCIM, your identity "
                  "provider creates, updates and deactivates Quillnote accounts automatically, so "
                  "people get access on their first day and lose it on their last."),
            ("h", "Connection details"),
            ("ul", [
                "SCIM base URL: https://api.quillnote.com/scim/v2",
                "Supported resources: Users and Groups",
                "Groups become teams in Quillnote and can be used for sharing notebooks.",
                "Attributes: userName (the email address), name.givenName, name.familyName, title",
            ]),
            ("h", "Creating a SCIM token"),
            ("p", "Open Admin Console > Security > Provisioning > Generate SCIM token. Copy the "
                  "token into your identity provider straight away: it is shown only once."),
            ("p", "A SCIM token is valid for 365 days. Quillnote emails all Admins 14 days before "
                  "a token expires. You can have at most 2 active tokens at the same time, which "
                  "lets you create a new token, update your identity provider and then revoke the "
                  "old one without any gap."),
            ("h", "Rate limit"),
            ("p", "The SCIM API accepts 100 requests per minute per workspace. This limit is "
                  "separate from the limits of the Quillnote REST API."),
            ("h", "Deprovisioning"),
            ("p", "When your identity provider sets a user to active: false or deletes the user, "
                  "Quillnote suspends the account immediately. The person is signed out on all "
                  "devices within 5 minutes. Their notes are kept for 30 days, during which an "
                  "Admin can transfer them to another member. After 30 days, notes that were not "
                  "transferred are moved to the Workspace Owner."),
        ],
    ),
    (
        "4. Audit log",
        [
            ("p", "The audit log records what happens in your workspace: who signed in, who "
                  "shared what, who exported data and which settings Admins changed."),
            ("h", "Retention"),
            ("ul", [
                "Team: audit log entries are kept for 90 days.",
                "Enterprise: audit log entries are kept for 3 years.",
            ]),
            ("p", "Entries cannot be edited or deleted by anyone, including the Workspace Owner."),
            ("h", "What is recorded"),
            ("p", "About 60 event types in six groups: sign-in and SSO, member changes, sharing "
                  "and public links, exports, API tokens and integrations, and admin settings. "
                  "Each entry has a timestamp in UTC, the actor, the IP address and the object."),
            ("h", "Viewing and exporting"),
            ("p", "Open Admin Console > Security > Audit log. Filter by person, event type and date "
                  "range. Select Export CSV to download the filtered entries; one CSV file holds "
                  "up to 100,000 rows, so split longer time ranges into several exports."),
            ("h", "Streaming to your SIEM"),
            ("p", "Enterprise workspaces can stream audit events to Splunk (HTTP Event Collector), "
                  "Datadog Logs or any HTTPS endpoint. Set it up in Admin Console > Security > "
                  "Audit log > Streaming. Events arrive within 60 seconds of happening."),
        ],
    ),
    (
        "5. Data residency",
        [
            ("p", "Each Team and Enterprise workspace stores its content in one data region. "
                  "Choose the region when you create the workspace:"),
            ("ul", [
                "EU: Frankfurt, Germany",
                "US: Oregon, United States",
                "Australia: Sydney",
            ]),
            ("p", "Notes, attachments, the search index, version history and backups all stay in "
                  "the chosen region. Billing data is always processed by Quillnote Labs GmbH in "
                  "Germany."),
            ("h", "Personal notes of members"),
            ("p", "If a person who already has a personal Quillnote account joins your workspace, "
                  "their personal notes stay in the region of their personal account. Only notes "
                  "in workspace notebooks are stored in the workspace region."),
            ("h", "Moving a workspace to another region"),
            ("p", "Region migration is available on Enterprise only. Ask your account manager to "
                  "schedule it; a workspace can be migrated at most once every 12 months. The "
                  "migration runs over a weekend, and the workspace is read-only for up to 48 "
                  "hours while it runs. Team workspaces cannot be migrated: create a new workspace "
                  "in the other region and move notebooks with a Quillnote Archive (.qnx) export."),
            ("h", "Getting help"),
            ("p", "Enterprise Admins can call the support phone line 24/7 for urgent issues. "
                  "All other questions: support@quillnote.com."),
        ],
    ),
]


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
    pdf.set_creation_date(datetime(2026, 11, 18, tzinfo=timezone.utc))
    for heading, blocks in PAGES:
        pdf.add_page()
        if pdf.page_no() == 1:
            pdf.set_font("Helvetica", "B", 18)
            pdf.multi_cell(0, 9, TITLE)
            pdf.ln(4)
        pdf.set_font("Helvetica", "B", 14)
        pdf.multi_cell(0, 8, heading)
        pdf.ln(2)
        for kind, content in blocks:
            if kind == "h":
                pdf.ln(2)
                pdf.set_font("Helvetica", "B", 11)
                pdf.multi_cell(0, 6, content)
                pdf.ln(1)
            elif kind == "p":
                pdf.set_font("Helvetica", "", 10)
                pdf.multi_cell(0, 5, content)
                pdf.ln(2)
            elif kind == "ul":
                pdf.set_font("Helvetica", "", 10)
                for item in content:
                    pdf.set_x(pdf.l_margin + 4)
                    pdf.multi_cell(0, 5, "- " + item)
                    pdf.ln(1)
                pdf.ln(1)
            else:
                raise ValueError(kind)
        if pdf.get_y() > pdf.h - 18:
            raise RuntimeError(f"page {pdf.page_no()} ({heading!r}) overflows; shorten it")
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))
    return out


if __name__ == "__main__":
    print(build())
