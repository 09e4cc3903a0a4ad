//! The desk's HTML, rendered on the server with maud: every value from a bulletin is
//! escaped by the template engine (no `PreEscaped` anywhere), links are built only from
//! validated ids, and no page carries inline script or style (the Content-Security-
//! Policy forbids both).

use maud::{DOCTYPE, Markup, html};

use crate::ops::bulletins::views::{BulletinDetail, BulletinSummary, OpenRequestView};
use crate::ops::connections::LinkView;
use crate::ops::status::PartnerStatus;

/// Who is looking, for the page header and the forms.
pub struct Viewer<'a> {
    /// The officer signed in, if any.
    pub officer: Option<&'a str>,
    /// The session's CSRF token, put in every form.
    pub csrf: &'a str,
    /// This agency.
    pub agency: &'a str,
    /// Whether they may compose.
    pub may_publish: bool,
    /// Whether they may see the log.
    pub may_audit: bool,
}

/// The CSS class of a TLP label (`TLP:AMBER+STRICT` → `tlp-amber-strict`).
pub fn tlp_class(tlp: &str) -> String {
    let level = tlp.trim_start_matches("TLP:").to_ascii_lowercase();
    let cleaned: String = level
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("tlp tlp-{cleaned}")
}

fn tlp_badge(tlp: &str) -> Markup {
    html! { span class=(tlp_class(tlp)) { (tlp) } }
}

fn csrf_field(viewer: &Viewer<'_>) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

/// A whole page: header with navigation, `main`, and the highest TLP shown pinned at
/// the top when there is one.
pub fn page(title: &str, viewer: &Viewer<'_>, marking: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // htmx: no eval, no inline styles, no scripts from swapped content.
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true}"#;
                title { (title) " · Liaison desk " (viewer.agency) }
                link rel="stylesheet" href="/assets/desk.css";
                script src="/assets/htmx.min.js" defer {}
            }
            body {
                @if let Some(tlp) = marking {
                    div class=(format!("banner {}", tlp_class(tlp))) role="note" aria-label="Marking" { (tlp) }
                }
                header {
                    span class="brand" { "Liaison desk · " (viewer.agency) }
                    @if let Some(officer) = viewer.officer {
                        nav aria-label="Main" {
                            a href="/inbox" { "Inbox" }
                            @if viewer.may_publish { a href="/compose" { "Compose" } }
                            a href="/search" { "Search" }
                            a href="/query" { "Hit/no-hit" }
                            a href="/partners" { "Partners" }
                            @if viewer.may_audit { a href="/log" { "Log" } }
                        }
                        form method="post" action="/logout" class="signout" {
                            (csrf_field(viewer))
                            span { "Signed in as " strong { (officer) } }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" { h1 { (title) } (body) }
            }
        }
    }
}

/// A line saying what happened or what went wrong.
pub fn notice(text: &str, error: bool) -> Markup {
    html! {
        p class=(if error { "notice error" } else { "notice" }) role=(if error { "alert" } else { "status" }) { (text) }
    }
}

/// The sign-in form.
pub fn login(
    viewer: &Viewer<'_>,
    message: Option<(&str, bool)>,
    certificate: &CertificateSignIn,
) -> Markup {
    page(
        "Sign in",
        viewer,
        None,
        html! {
            @if let Some((text, error)) = message { (notice(text, error)) }
            @match certificate {
                CertificateSignIn::Offered(officer) => {
                    form method="post" action="/login/certificate" class="narrow" {
                        (csrf_field(viewer))
                        button id="certificate-sign-in" type="submit" { "Sign in as " (officer) " with your certificate" }
                    }
                    p { "Or with a name and password:" }
                }
                CertificateSignIn::NotAccepted(why) => {
                    p class="note" { "Your browser presented a certificate this desk does not sign in with (" (why) "). Sign in with your password." }
                }
                CertificateSignIn::None => {}
            }
            form method="post" action="/login" class="narrow" {
                (csrf_field(viewer))
                label for="name" { "Name" }
                input id="name" name="name" autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// What the sign-in page offers for the client certificate the browser presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateSignIn {
    /// None presented: the password form only.
    None,
    /// An officer's certificate: sign in as them with one click.
    Offered(String),
    /// A certificate that does not sign anyone in, and why.
    NotAccepted(String),
}

/// The enrolment form: the officer chooses their password.
pub fn enrol(viewer: &Viewer<'_>, officer: &str, token: &str, error: Option<&str>) -> Markup {
    page(
        "Enrol",
        viewer,
        None,
        html! {
            p { "Welcome, " strong { (officer) } ". Choose a password of at least 12 characters. This link works once." }
            @if let Some(e) = error { (notice(e, true)) }
            form method="post" action=(format!("/enrol/{token}")) class="narrow" {
                (csrf_field(viewer))
                label for="password" { "New password" }
                input id="password" name="password" type="password" autocomplete="new-password" minlength="12" required autofocus;
                label for="confirm" { "Repeat it" }
                input id="confirm" name="confirm" type="password" autocomplete="new-password" minlength="12" required;
                button type="submit" { "Set password" }
            }
        },
    )
}

fn bulletin_rows(list: &[BulletinSummary], unread: &dyn Fn(&str) -> bool) -> Markup {
    html! {
        table class="list" {
            thead { tr { th scope="col" { "" } th scope="col" { "TLP" } th scope="col" { "Title" } th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "Category" } th scope="col" { "Created" } } }
            tbody {
                @for b in list {
                    @let new = unread(&b.id);
                    tr class=(if new { "unread" } else { "" }) {
                        td { @if new { span class="dot" aria-label="unread" { "●" } } }
                        td { (tlp_badge(&b.tlp)) }
                        td { a href=(format!("/bulletin/{}", b.id)) { (b.title) } }
                        td { (b.origin) }
                        td { (b.recipients.join(", ")) }
                        td { (b.category) }
                        td { (b.created) }
                    }
                }
            }
        }
        @if list.is_empty() { p { "Nothing here." } }
    }
}

/// The inbox: open requests, then received or sent bulletins.
pub fn inbox(
    viewer: &Viewer<'_>,
    sent: bool,
    list: &[BulletinSummary],
    open: &[OpenRequestView],
    unread: &dyn Fn(&str) -> bool,
    filter_tlp: &str,
    paging: Paging<'_>,
) -> Markup {
    page(
        "Inbox",
        viewer,
        None,
        html! {
            nav class="tabs" aria-label="Boxes" {
                a href="/inbox" aria-current=[(!sent).then_some("page")] { "Received" }
                a href="/inbox?box=sent" aria-current=[sent.then_some("page")] { "Sent" }
            }
            form method="get" action="/inbox" class="filters" {
                @if sent { input type="hidden" name="box" value="sent"; }
                label for="tlp" { "TLP" }
                select id="tlp" name="tlp" {
                    @for (value, label) in [("", "any"), ("clear", "CLEAR"), ("green", "GREEN"), ("amber", "AMBER"), ("amber+strict", "AMBER+STRICT"), ("red", "RED")] {
                        option value=(value) selected[filter_tlp == value] { (label) }
                    }
                }
                button type="submit" { "Filter" }
            }
            @if !open.is_empty() && !sent {
                section aria-labelledby="open" {
                    h2 id="open" { "Open requests" }
                    ul {
                        @for r in open {
                            li { a href=(format!("/bulletin/{}", r.summary.id)) { (r.summary.title) } " — due " (r.request.due) " (" (r.request.priority) ")" }
                        }
                    }
                }
            }
            (bulletin_rows(list, unread))
            @if paging.older.is_some() || paging.newest.is_some() {
                nav class="paging" aria-label="Pages" {
                    @if let Some(href) = paging.newest { a href=(href) { "Newest" } }
                    @if let Some(href) = paging.older { a href=(href) rel="next" { "Older bulletins" } }
                }
            }
        },
    )
}

/// Links to the inbox's other pages (each `None` where there is none).
#[derive(Debug, Clone, Copy)]
pub struct Paging<'a> {
    /// The next page: older bulletins.
    pub older: Option<&'a str>,
    /// The first page: the newest bulletins (shown on later pages).
    pub newest: Option<&'a str>,
}

/// One bulletin, its thread, links, delivery and acknowledgements.
pub fn bulletin(
    viewer: &Viewer<'_>,
    b: &BulletinDetail,
    thread: &[BulletinSummary],
    partners: &[String],
    message: Option<&str>,
) -> Markup {
    let received = b.summary.direction == crate::ops::bulletins::Direction::In;
    page(
        &b.summary.title,
        viewer,
        Some(&b.summary.tlp),
        html! {
            @if let Some(m) = message { (notice(m, false)) }
            dl class="meta" {
                dt { "Marking" } dd { (tlp_badge(&b.summary.tlp)) " " (b.summary.category) @for h in &b.handling_meanings { br; (h) } }
                @if !b.restriction.is_empty() { dt { "Restriction" } dd { (b.restriction) } }
                @if let Some(e) = &b.evaluation { dt { "Evaluation" } dd { (e) } }
                dt { "From" } dd { (b.summary.origin) }
                dt { "To" } dd { (b.summary.recipients.join(", ")) }
                dt { "Created" } dd { (b.created) }
                dt { "Expires" } dd { (b.expires) }
                dt { "Signature" } dd { (b.signature) }
                @if let Some(r) = &b.request { dt { "Request" } dd { (r.priority) ", due " (r.due) @if !r.awaiting.is_empty() { "; awaiting " (r.awaiting.join(", ")) } } }
            }
            section aria-labelledby="body" {
                h2 id="body" { "Text" }
                div class="body" { (b.body) }
            }
            @if !b.entities.is_empty() {
                section aria-labelledby="entities" {
                    h2 id="entities" { "Entities" }
                    table class="list" {
                        thead { tr { th scope="col" { "Kind" } th scope="col" { "Details" } } }
                        tbody { @for e in &b.entities { @let (kind, text) = e.describe(); tr { td { (kind) } td { (text) } } } }
                    }
                }
            }
            @if !b.attachments.is_empty() {
                section aria-labelledby="attachments" {
                    h2 id="attachments" { "Attachments" }
                    ul { @for a in &b.attachments {
                        li {
                            @if a.streamed { (a.file_name) " (" (a.bytes) " bytes; large: fetch with liaison bulletin attachment get)" }
                            @else { a href=(format!("/bulletin/{}/attachment/{}", b.summary.id, a.number)) download { (a.file_name) } " (" (a.bytes) " bytes, downloaded as a file)" }
                        }
                    } }
                }
            }
            @if !b.links.is_empty() {
                section aria-labelledby="links" {
                    h2 id="links" { "Linked bulletins" }
                    ul { @for l in &b.links { (link_item(l)) } }
                }
            }
            @if thread.len() > 1 {
                section aria-labelledby="thread" {
                    h2 id="thread" { "Thread" }
                    ol { @for t in thread {
                        li { @if t.id == b.summary.id { strong { (t.title) } } @else { a href=(format!("/bulletin/{}", t.id)) { (t.title) } } " — " (t.origin) ", " (t.created) }
                    } }
                }
            }
            @if !b.delivery.is_empty() {
                section aria-labelledby="delivery" {
                    h2 id="delivery" { "Delivery" }
                    table class="list" {
                        thead { tr { th scope="col" { "Partner" } th scope="col" { "State" } th scope="col" { "Signed receipt" } } }
                        tbody { @for d in &b.delivery { tr {
                            td { (d.agency) }
                            td { (d.state) @if let Some(detail) = &d.detail { ": " (detail) } }
                            td { @if let Some(t) = &d.receipt_time { "at " (t) } @if let Some(seq) = d.receiver_log_seq { ", their log entry " (seq) } }
                        } } }
                    }
                }
            }
            @if !b.acknowledgements.is_empty() {
                section aria-labelledby="acks" {
                    h2 id="acks" { "Acknowledgements" }
                    ul { @for a in &b.acknowledgements { li { (a.by) ": " (a.state.as_str()) " at " (a.time) @if !a.note.is_empty() { " — " (a.note) } @if a.signed { " (signed)" } } } }
                }
            }
            @if received {
                section aria-labelledby="act" {
                    h2 id="act" { "Acknowledge" }
                    form method="post" action=(format!("/bulletin/{}/ack", b.summary.id)) class="inline" {
                        (csrf_field(viewer))
                        label for="state" { "State" }
                        select id="state" name="state" { option value="read" { "read" } option value="actioned" { "actioned" } option value="received" { "received" } }
                        label for="note" { "Note" }
                        input id="note" name="note" maxlength="1024";
                        button type="submit" { "Acknowledge" }
                    }
                }
            }
            @if viewer.may_publish {
                p { a class="button" href=(format!("/compose?reply_to={}", b.summary.id)) { "Reply" } }
                section aria-labelledby="onward" {
                    h2 id="onward" { "Onward sharing" }
                    @let others: Vec<&String> = partners.iter().filter(|p| **p != b.summary.origin).collect();
                    @if received {
                        (onward_form(viewer, &b.summary.id, "forward", "Forward to", &others, false))
                    } @else {
                        (release_form(viewer, &b.summary.id, &others, &b.summary.recipients))
                        (onward_form(viewer, &b.summary.id, "recall", "Recall from every holder", &[], true))
                    }
                    @if !b.onward.is_empty() { ul { @for line in &b.onward { li { (line) } } } }
                }
            }
        },
    )
}

/// A form for one onward action: a partner to choose, or a reason to give.
fn onward_form(
    viewer: &Viewer<'_>,
    id: &str,
    action: &str,
    label: &str,
    partners: &[&String],
    reason: bool,
) -> Markup {
    let field = format!("{action}-field");
    html! {
        form method="post" action=(format!("/bulletin/{id}/onward/{action}")) class="inline" {
            (csrf_field(viewer))
            label for=(field) { (label) }
            @if reason {
                input id=(field) name="reason" placeholder="why (the holders read it)" required maxlength="1024";
            } @else {
                select id=(field) name="to" { @for p in partners { option value=(p) { (p) } } }
            }
            button type="submit" { (label.split(' ').next().unwrap_or(action)) }
        }
    }
}

/// The release form: the partners the bulletin may go on to, which of its recipients
/// may pass it on (none ticked: all of them), and for how many days (empty: until it
/// expires), as `liaison bulletin release` takes them.
fn release_form(
    viewer: &Viewer<'_>,
    id: &str,
    partners: &[&String],
    recipients: &[String],
) -> Markup {
    let onward: Vec<&&String> = partners
        .iter()
        .filter(|p| !recipients.contains(p))
        .collect();
    html! {
        form method="post" action=(format!("/bulletin/{id}/onward/release")) class="release" {
            (csrf_field(viewer))
            fieldset {
                legend { "Release for onward sharing to" }
                @for p in &onward {
                    label class="check" { input type="checkbox" name="to" value=(p); " " (p) }
                }
                @if onward.is_empty() { p { "Every partner already holds it." } }
            }
            fieldset {
                legend { "Who may pass it on (none ticked: every recipient)" }
                @for r in recipients {
                    label class="check" { input type="checkbox" name="holder" value=(r); " " (r) }
                }
            }
            label for="release-days" { "For how many days (empty: until it expires)" }
            input id="release-days" name="days" type="number" min="1" max="3650";
            button type="submit" { "Release" }
        }
    }
}

fn link_item(l: &LinkView) -> Markup {
    html! {
        li { a href=(format!("/bulletin/{}", l.bulletin)) { (l.title) } " — " (l.origin) ", " (tlp_badge(&l.tlp)) ", shares " (l.selector) }
    }
}

/// The compose form's values (kept when a send is refused).
#[derive(Debug, Default, Clone)]
pub struct Draft {
    /// Recipients ticked.
    pub to: Vec<String>,
    /// Category.
    pub category: String,
    /// TLP.
    pub tlp: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Entity rows: kind and value, in the order the form gave them (blank rows too).
    pub entities: Vec<(String, String)>,
    /// Blank entity rows the officer asked for on top of the filled ones.
    pub extra_rows: usize,
    /// The bulletin answered.
    pub reply_to: String,
    /// A request for information: its priority (`routine`, `urgent`, `immediate`),
    /// empty for none.
    pub request: String,
    /// Hours until the answer is due.
    pub due_hours: String,
}

/// The compose form with the live policy preview.
pub fn compose(
    viewer: &Viewer<'_>,
    partners: &[String],
    draft: &Draft,
    error: Option<&str>,
) -> Markup {
    page(
        "Compose",
        viewer,
        None,
        html! {
            @if let Some(e) = error { (notice(e, true)) }
            form method="post" action="/compose" enctype="multipart/form-data" class="compose" {
                // The form's default button, disabled: Enter in a field submits nothing
                // (neither an unintended send nor a reload that drops the chosen files).
                button type="submit" disabled hidden aria-hidden="true" tabindex="-1" { "Nothing" }
                (csrf_field(viewer))
                @if !draft.reply_to.is_empty() {
                    input type="hidden" name="reply_to" value=(draft.reply_to);
                    p { "Reply to " a href=(format!("/bulletin/{}", draft.reply_to)) { (draft.reply_to) } "; it goes to the thread's parties the policy allows." }
                }
                fieldset hx-get="/compose/preview" hx-trigger="load, change, input delay:400ms" hx-target="#preview" hx-include="closest form" {
                    legend { "Recipients" }
                    @for p in partners {
                        label class="check" { input type="checkbox" name="to" value=(p) checked[draft.to.contains(p)]; " " (p) }
                    }
                    label for="category" { "Category" }
                    input id="category" name="category" value=(draft.category) placeholder="trafficking.persons" required;
                    label for="tlp" { "TLP" }
                    select id="tlp" name="tlp" {
                        @for (value, label) in [("green", "GREEN"), ("amber", "AMBER"), ("amber+strict", "AMBER+STRICT"), ("red", "RED"), ("clear", "CLEAR")] {
                            option value=(value) selected[draft.tlp == value] { (label) }
                        }
                    }
                }
                div id="preview" aria-live="polite" {}
                label for="title" { "Title" }
                input id="title" name="title" value=(draft.title) required maxlength="512";
                label for="body" { "Text" }
                textarea id="body" name="body" rows="8" { (draft.body) }
                fieldset class="entities" {
                    legend { "Entities (rows without a value are ignored)" }
                    p class="hint" id="entity-syntax" {
                        "A value, then optional " code { ";key=value" } " fields, as " code { "liaison bulletin send" } " takes them: "
                        "person " code { "NAME;dob=YYYY-MM-DD;nat=CC;alias=…;id=…" } ", "
                        "vehicle " code { "PLATE;country=CC;make=…;vin=…" } ", "
                        "account " code { "IBAN;institution=…" } ", "
                        "location " code { "NAME;lat=…;lon=…" } ", phone " code { "+40 712 345 678" } "."
                    }
                    @let rows = entity_rows(draft);
                    @for (row, (kind, value)) in rows.iter().enumerate() {
                        div class="entity-row" {
                            label for=(format!("entity_kind_{row}")) { "Entity " (row + 1) " kind" }
                            select id=(format!("entity_kind_{row}")) name="entity_kind" {
                                @for k in std::iter::once("").chain(liaison_core::entity_spec::KINDS) {
                                    option value=(k) selected[kind == k] { (if k.is_empty() { "none" } else { k }) }
                                }
                            }
                            label for=(format!("entity_value_{row}")) { "value" }
                            input id=(format!("entity_value_{row}")) name="entity_value" value=(value) aria-describedby="entity-syntax";
                        }
                    }
                    @if rows.len() < MAX_ENTITY_ROWS {
                        button type="submit" name="action" value="more-rows" formnovalidate class="secondary" {
                            "More entity rows (files must be chosen again)"
                        }
                    }
                }
                fieldset {
                    legend { "Request for information" }
                    label for="request" { "Priority" }
                    select id="request" name="request" {
                        @for (value, label) in [("", "not a request"), ("routine", "routine"), ("urgent", "urgent"), ("immediate", "immediate")] {
                            option value=(value) selected[draft.request == value] { (label) }
                        }
                    }
                    label for="due_hours" { "Answer due in (hours)" }
                    input id="due_hours" name="due_hours" type="number" min="1" max="8760" value=(draft.due_hours);
                }
                label for="attachment" { "Attachments (one or more files, up to 8 MiB in all)" }
                input id="attachment" name="attachment" type="file" multiple;
                button id="send" type="submit" { "Send" }
            }
        },
    )
}

/// Most entity rows the compose form shows; a bulletin with more is sent from the CLI
/// or the API.
pub const MAX_ENTITY_ROWS: usize = 40;
/// Blank rows the compose form starts with, and adds when asked.
const BLANK_ROWS: usize = 3;

/// The rows the compose form shows: the draft's filled ones, then blanks (at least
/// [`BLANK_ROWS`], more when asked), at most [`MAX_ENTITY_ROWS`].
fn entity_rows(draft: &Draft) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = draft
        .entities
        .iter()
        .filter(|(kind, value)| !kind.is_empty() || !value.trim().is_empty())
        .cloned()
        .collect();
    let blanks = BLANK_ROWS + draft.extra_rows;
    rows.resize(
        (rows.len() + blanks).min(MAX_ENTITY_ROWS),
        Default::default(),
    );
    rows
}

/// The policy preview: who it goes to, who not and by which rule.
pub fn preview(lines: &[(String, bool, String)]) -> Markup {
    html! {
        @if lines.is_empty() { p class="preview" { "Tick recipients to see what the policy allows." } }
        @else {
            ul class="preview" {
                @for (partner, allowed, why) in lines {
                    li class=(if *allowed { "allowed" } else { "refused" }) {
                        @if *allowed { "goes to " strong { (partner) } } @else { "not to " strong { (partner) } ": " (why) }
                    }
                }
            }
        }
    }
}

/// What the search form holds (kept when the results or an error come back).
#[derive(Debug, Clone, Copy)]
pub struct SearchForm<'a> {
    /// Words in the title or body.
    pub text: &'a str,
    /// A person's name (fuzzy).
    pub person: &'a str,
    /// A selector's kind and value.
    pub kind: &'a str,
    /// See `kind`.
    pub value: &'a str,
    /// Only from this originator.
    pub from: &'a str,
    /// Only in this category or under it.
    pub category: &'a str,
    /// Only with this TLP.
    pub tlp: &'a str,
    /// Created on or after this day.
    pub since: &'a str,
    /// Created on or before this day.
    pub until: &'a str,
    /// The originators to choose from (this agency first).
    pub origins: &'a [String],
}

/// Search: words, a person's name (fuzzy), a selector (phone, account, vehicle, VIN,
/// person), narrowed by originator, category, TLP and dates.
pub fn search(
    viewer: &Viewer<'_>,
    form: &SearchForm<'_>,
    found: Option<&[BulletinSummary]>,
    error: Option<&str>,
) -> Markup {
    page(
        "Search",
        viewer,
        None,
        html! {
            form method="get" action="/search" class="search" {
                fieldset {
                    legend { "Find (any one or more)" }
                    label for="text" { "Words" } input id="text" name="text" value=(form.text);
                    label for="person" { "Person (one typo forgiven)" } input id="person" name="person" value=(form.person);
                    label for="kind" { "Selector" }
                    select id="kind" name="kind" {
                        @for k in liaison_core::selector::KINDS {
                            option value=(k) selected[form.kind == k] { (k) }
                        }
                    }
                    label for="value" { "its value (a vehicle as CC:PLATE or PLATE;country=CC)" } input id="value" name="value" value=(form.value);
                }
                fieldset {
                    legend { "Only" }
                    label for="from" { "From" }
                    select id="from" name="from" {
                        option value="" { "any agency" }
                        @for o in form.origins { option value=(o) selected[form.from == o] { (o) } }
                    }
                    label for="category" { "Category (or a parent, e.g. trafficking)" } input id="category" name="category" value=(form.category);
                    label for="search-tlp" { "TLP" }
                    select id="search-tlp" name="tlp" {
                        @for (value, label) in [("", "any"), ("clear", "CLEAR"), ("green", "GREEN"), ("amber", "AMBER"), ("amber+strict", "AMBER+STRICT"), ("red", "RED")] {
                            option value=(value) selected[form.tlp == value] { (label) }
                        }
                    }
                    label for="since" { "Created from (date)" } input id="since" name="since" type="date" value=(form.since);
                    label for="until" { "to (date, inclusive)" } input id="until" name="until" type="date" value=(form.until);
                }
                button type="submit" { "Search" }
            }
            @if let Some(e) = error { (notice(e, true)) }
            @if let Some(found) = found { (bulletin_rows(found, &|_| false)) }
        },
    )
}

/// The private hit/no-hit query form and its answers.
pub fn query(
    viewer: &Viewer<'_>,
    phone: &str,
    report: Option<&crate::ops::private_query::QueryReport>,
    error: Option<&str>,
) -> Markup {
    page(
        "Private hit/no-hit query",
        viewer,
        None,
        html! {
            p { "Asks every partner whether it holds a phone number, without telling them the number (RFC 9497 OPRF). A hit is followed up by an ordinary request for information." }
            form method="post" action="/query" class="filters" {
                (csrf_field(viewer))
                label for="phone" { "Phone" } input id="phone" name="phone" value=(phone) required;
                button type="submit" { "Ask" }
            }
            @if let Some(e) = error { (notice(e, true)) }
            @if let Some(report) = report {
                table class="list" {
                    thead { tr { th scope="col" { "Partner" } th scope="col" { "Answer" } } }
                    tbody { @for a in &report.answers { tr {
                        td { (a.partner) }
                        td { @if let Some(e) = &a.error { "no answer: " (e) } @else if a.hits.iter().any(|h| *h) { strong { "HIT" } } @else { "no hit" } }
                    } } }
                }
            }
        },
    )
}

/// Partners at a glance.
pub fn partners(viewer: &Viewer<'_>, partners: &[PartnerStatus]) -> Markup {
    page(
        "Partners",
        viewer,
        None,
        html! {
            table class="list" {
                thead { tr { th scope="col" { "Partner" } th scope="col" { "Connection" } th scope="col" { "Outbox" } th scope="col" { "Last delivery" } th scope="col" { "Warning" } } }
                tbody { @for p in partners { tr class=(if p.last_error.is_some() { "failing" } else { "" }) {
                    td { (p.agency) } td { (p.connection) } td { (p.outbox) }
                    td { (p.last_delivery.as_deref().unwrap_or("never")) }
                    td { (p.last_error.as_deref().unwrap_or("")) }
                } } }
            }
        },
    )
}

/// The last entries of the log, for auditors.
pub fn log(viewer: &Viewer<'_>, entries: &[(u64, String, String, String)]) -> Markup {
    page(
        "Log",
        viewer,
        None,
        html! {
            p { "The newest entries of this node's tamper-evident log. The complete, verifiable record: " code { "liaison log export" } "." }
            table class="list" {
                thead { tr { th scope="col" { "Entry" } th scope="col" { "Time" } th scope="col" { "Kind" } th scope="col" { "What" } } }
                tbody { @for (seq, time, kind, what) in entries { tr { td { (seq) } td { (time) } td { (kind) } td { code { (what) } } } } }
            }
        },
    )
}

/// A page for an error, naming it.
pub fn problem(viewer: &Viewer<'_>, title: &str, text: &str) -> Markup {
    page(title, viewer, None, notice(text, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(filled: usize, blank: usize, extra_rows: usize) -> Vec<(String, String)> {
        let mut entities = vec![("phone".to_owned(), "+40721234567".to_owned()); filled];
        entities.extend(vec![(String::new(), String::new()); blank]);
        entity_rows(&Draft {
            entities,
            extra_rows,
            ..Draft::default()
        })
    }

    #[test]
    fn the_form_keeps_filled_entity_rows_and_adds_blanks_up_to_the_cap() {
        assert_eq!(rows(0, 0, 0).len(), BLANK_ROWS, "a new form");
        let kept = rows(2, 1, 0);
        assert_eq!(
            kept.len(),
            2 + BLANK_ROWS,
            "blank rows sent are not kept twice"
        );
        assert_eq!(kept[1].1, "+40721234567");
        assert!(kept[2].0.is_empty() && kept[2].1.is_empty());
        assert_eq!(
            rows(2, 1, 3).len(),
            2 + BLANK_ROWS + 3,
            "more rows asked for"
        );
        assert_eq!(rows(39, 0, 5).len(), MAX_ENTITY_ROWS, "capped");
        assert_eq!(rows(MAX_ENTITY_ROWS, 0, 0).len(), MAX_ENTITY_ROWS);
    }
}
