//! The team hub from the window: a linked project syncs in the background. A hub thread owns
//! the connection: it listens for patches others change (LISTEN/NOTIFY), and every 30 s, on a
//! notification, or shortly after a local edit it reads the changes to push through its own
//! read-only connection to the file, runs the network half of a sync (`hub::sync::exchange`)
//! and hands the answers back; between frames the UI thread writes them into the project
//! (`hub::sync::settle`, the same code the command line runs), refreshes the rows that changed
//! and the conflict queue. The next round waits until the last one is settled. Unreachable, the
//! project keeps working and the status bar says so; the thread tries again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tuban_core::hub::lease::{self, Lease};
use tuban_core::hub::sync::{self, Exchange};
use tuban_core::hub::Hub;
use tuban_core::store::{Access, HubLink, Project, PushBatch, StoreError};
use tuban_model::progress::Progress;

use crate::state::Workstation;

/// How often a linked copy syncs without a reason.
const EVERY: Duration = Duration::from_secs(30);
/// How soon after a local edit.
const AFTER_EDIT: Duration = Duration::from_secs(3);
/// How long before trying an unreachable hub again.
const RETRY: Duration = Duration::from_secs(15);

/// What the status bar says about the hub.
#[derive(Debug, Clone, PartialEq)]
pub enum HubState {
    /// The first round is under way.
    Connecting,
    /// The last round went through.
    Synced {
        /// Local time.
        at: String,
        /// Others' changes applied here.
        pulled: usize,
        /// Ours written on the hub.
        pushed: usize,
        /// New conflicts (in the conflict queue).
        conflicts: usize,
        /// Ours waiting because someone else holds the patch.
        held: usize,
        /// TLS.
        encrypted: bool,
    },
    /// The hub cannot be reached: the message, and when it was last tried.
    Offline(String),
    /// The hub refused (login, permission, another project): the message.
    Refused(String),
}

enum ToHub {
    SyncNow,
    ClaimNext(i64),
}

enum FromHub {
    Exchanged(Box<(PushBatch, Exchange)>),
    Failed { message: String, unreachable: bool },
    Leases(Vec<Lease>, String),
    Claimed(usize),
}

/// A linked project's hub thread and what it last said.
pub struct HubSession {
    tx: Sender<ToHub>,
    rx: Receiver<FromHub>,
    /// Shown in the status bar.
    pub state: HubState,
    /// The address (without password).
    pub url: String,
    /// Live leases by patch key: (holder, until in UTC).
    pub leases: HashMap<String, (String, String)>,
    /// The hub login (to tell our leases from others').
    pub me: String,
    /// What the last claim did, shown after the state.
    pub notice: Option<String>,
    seen_save: Option<String>,
    sync_at: Option<Instant>,
    /// A round that came while the analyst was typing, settled once the typing is saved.
    deferred: Option<Box<(PushBatch, Exchange)>>,
    /// Set by the hub thread when it hands a round over, cleared once it is settled.
    unsettled: Arc<AtomicBool>,
}

impl HubSession {
    /// Starts the hub thread of a linked, writable project (None otherwise).
    pub fn start(ws: &Workstation, wake: impl Fn() + Send + 'static) -> Option<HubSession> {
        if ws.project.access() != Access::ReadWrite {
            return None;
        }
        let link = ws.project.hub_link().ok().flatten()?;
        let uid = ws.project.project_uid().ok()?;
        let (to_hub, from_ui) = mpsc::channel();
        let (to_ui, from_hub) = mpsc::channel();
        let url = link.url.clone();
        let unsettled = Arc::new(AtomicBool::new(false));
        let ctx = Worker {
            link,
            uid,
            file: ws.project.path().to_path_buf(),
            unsettled: Arc::clone(&unsettled),
            rx: from_ui,
            tx: to_ui,
        };
        std::thread::Builder::new().name("tuban-hub".into()).spawn(move || worker(&ctx, &wake)).ok()?;
        Some(HubSession {
            tx: to_hub,
            rx: from_hub,
            state: HubState::Connecting,
            me: String::new(),
            url,
            leases: HashMap::new(),
            notice: None,
            seen_save: ws.last_saved.clone(),
            sync_at: None,
            deferred: None,
            unsettled,
        })
    }

    /// Asks for a round now (the status bar's button).
    pub fn sync_now(&self) {
        let _ = self.tx.send(ToHub::SyncNow);
    }

    /// Claims the next `n` unreviewed patches of the user's township.
    pub fn claim_next(&self, n: i64) {
        let _ = self.tx.send(ToHub::ClaimNext(n));
    }

    /// Who holds a patch, and until when (local time), if anyone does.
    pub fn lease_of(&self, key: &str) -> Option<(&str, String)> {
        self.leases.get(key).map(|(holder, until)| (holder.as_str(), local_time(until)))
    }
}

/// Between frames: starts the hub thread of a linked project, answers it, settles its rounds
/// (not while `typing`: unsaved typing in the form is saved first).
pub fn tick(ws: &mut Workstation, ctx: &egui::Context, typing: bool) {
    if ws.hub.is_none() && !ws.hub_tried {
        ws.hub_tried = true;
        let wake = ctx.clone();
        ws.hub = HubSession::start(ws, move || wake.request_repaint());
    }
    let Some(mut session) = ws.hub.take() else { return };
    if ws.last_saved != session.seen_save {
        session.seen_save = ws.last_saved.clone();
        session.sync_at = Some(Instant::now() + AFTER_EDIT);
    }
    if let Some(at) = session.sync_at {
        if Instant::now() >= at {
            session.sync_at = None;
            session.sync_now();
        } else {
            ctx.request_repaint_after(at - Instant::now());
        }
    }
    if let Some(round) = session.deferred.take() {
        if typing {
            session.deferred = Some(round);
            ctx.request_repaint_after(Duration::from_millis(300));
        } else {
            let (batch, ex) = *round;
            session.state = settle(ws, &batch, ex);
            session.unsettled.store(false, Ordering::SeqCst);
        }
    }
    while let Ok(msg) = session.rx.try_recv() {
        match msg {
            FromHub::Exchanged(round) if typing => {
                session.deferred = Some(round);
                ctx.request_repaint_after(Duration::from_millis(300));
            }
            FromHub::Exchanged(round) => {
                let (batch, ex) = *round;
                session.state = settle(ws, &batch, ex);
                session.unsettled.store(false, Ordering::SeqCst);
            }
            FromHub::Failed { message, unreachable } => {
                session.state = if unreachable { HubState::Offline(message) } else { HubState::Refused(message) };
            }
            FromHub::Leases(list, me) => {
                session.me = me;
                session.leases = list.into_iter().map(|l| (l.key, (l.holder, l.expires_at))).collect();
            }
            FromHub::Claimed(n) => session.notice = Some(format!("+{n}")),
        }
    }
    ws.hub = Some(session);
}

fn settle(ws: &mut Workstation, batch: &PushBatch, ex: Exchange) -> HubState {
    let uids: Vec<String> = ex.pages.iter().flat_map(|(page, _)| page.iter().map(|p| p.uid.clone())).collect();
    let outcome = sync::settle(&mut ws.project, batch, ex);
    // Rows the pulled pages touched are read again whether or not the push was refused.
    let mut changed: Vec<i64> = uids.iter().filter_map(|u| ws.project.fid_of_uid(u).ok().flatten()).collect();
    changed.sort_unstable();
    changed.dedup();
    let saved = ws.last_saved.clone(); // (another's change is no save of ours)
    for fid in &changed {
        let _ = ws.refresh(*fid);
    }
    ws.last_saved = saved;
    if !changed.is_empty() {
        ws.refilter();
    }
    let _ = ws.reload_conflicts();
    match outcome {
        Ok(r) => HubState::Synced {
            at: chrono::Local::now().format("%H:%M:%S").to_string(),
            pulled: r.pulled.applied,
            pushed: r.pushed.applied,
            conflicts: r.conflicts(),
            held: r.pushed.missing,
            encrypted: r.encrypted,
        },
        Err(e) => HubState::Refused(e.to_string()),
    }
}

/// What the hub thread works with.
struct Worker {
    link: HubLink,
    uid: String,
    /// The project file, read (never written) through the thread's own connection.
    file: PathBuf,
    unsettled: Arc<AtomicBool>,
    rx: Receiver<ToHub>,
    tx: Sender<FromHub>,
}

fn failed(e: &dyn std::fmt::Display, unreachable: bool) -> FromHub {
    FromHub::Failed { message: e.to_string(), unreachable }
}

/// The changes to push, read through a read-only connection of this thread (the UI thread's
/// connection stays free; edits made after it go in the next round).
fn outgoing(file: &std::path::Path) -> Result<PushBatch, StoreError> {
    Project::open(file, Access::ReadOnly)?.hub_outgoing()
}

/// The hub thread: connect, listen, and run a round when it is due and the last one is settled;
/// ends when the window lets go of the project (the channel closes).
fn worker(w: &Worker, wake: &dyn Fn()) {
    let mut hub: Option<Hub> = None;
    // Claims asked for and not made yet (made when connected, before the next round).
    let mut claims: Vec<i64> = Vec::new();
    let mut due = Instant::now();
    loop {
        // Wait for a reason (due, a request, a notification) and for the last round to be settled.
        while Instant::now() < due || w.unsettled.load(Ordering::SeqCst) {
            match w.rx.try_recv() {
                Ok(ToHub::SyncNow) => due = Instant::now(),
                Ok(ToHub::ClaimNext(n)) => {
                    claims.push(n);
                    due = Instant::now();
                }
                Err(mpsc::TryRecvError::Disconnected) => return,
                Err(mpsc::TryRecvError::Empty) => {}
            }
            let slice = due
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(50), Duration::from_millis(250));
            match hub.as_mut().map(|h| h.wait_for_change(slice)) {
                Some(Ok(uids)) if !uids.is_empty() => due = Instant::now(),
                Some(Err(_)) => hub = None,
                None => std::thread::sleep(slice),
                _ => {}
            }
        }
        if hub.is_none() {
            match Hub::connect(&w.link.url).and_then(|mut h| h.listen().map(|()| h)) {
                Ok(h) => hub = Some(h),
                Err(e) => {
                    let retry = e.is_unreachable();
                    if w.tx.send(failed(&e, retry)).is_err() {
                        return;
                    }
                    wake();
                    due = Instant::now() + if retry { RETRY } else { EVERY * 4 };
                    continue;
                }
            }
        }
        let Some(h) = hub.as_mut() else { continue };
        for n in std::mem::take(&mut claims) {
            let msg = match lease::claim_next(h, None, n, lease::LEASE_TTL) {
                Ok(got) => FromHub::Claimed(got.len()),
                Err(e) => failed(&e, e.is_unreachable()),
            };
            if w.tx.send(msg).is_err() {
                return;
            }
        }
        // A round: what to push, the exchange, the answers back to be settled.
        let batch = match outgoing(&w.file) {
            Ok(b) => b,
            Err(e) => {
                if w.tx.send(failed(&e, false)).is_err() {
                    return;
                }
                due = Instant::now() + EVERY;
                continue;
            }
        };
        // The link's marks as the project holds them now (the last round is settled).
        let mut link = w.link.clone();
        link.pulled_id = batch.pulled_id;
        let (msg, unreachable) = match sync::exchange(h, &link, &w.uid, &batch, &Progress::new()) {
            Ok(ex) => {
                w.unsettled.store(true, Ordering::SeqCst);
                (FromHub::Exchanged(Box::new((batch, ex))), false)
            }
            Err(e) => {
                let unreachable = e.is_unreachable();
                if unreachable {
                    hub = None;
                }
                (failed(&e, unreachable), unreachable)
            }
        };
        if w.tx.send(msg).is_err() {
            return;
        }
        if let Some((Ok(list), me)) = hub.as_mut().map(|h| (lease::list(h, None), h.user.clone())) {
            if w.tx.send(FromHub::Leases(list, me)).is_err() {
                return;
            }
        }
        wake();
        due = if !claims.is_empty() && !unreachable {
            Instant::now()
        } else {
            Instant::now() + if unreachable { RETRY } else { EVERY }
        };
    }
}

/// The hub's part of the status bar: state, counts of the last round, the reason it failed (in
/// full on hover), and a button to sync now.
pub fn status_ui(ui: &mut egui::Ui, h: &HubSession, lang: crate::i18n::Lang) {
    use crate::i18n::tr;
    use egui::RichText;
    let head = tr(lang, "hub");
    match &h.state {
        HubState::Connecting => {
            ui.label(format!("{head}: {}", tr(lang, "hub_connecting")));
        }
        HubState::Synced { at, pulled, pushed, conflicts, held, encrypted } => {
            let mut text = format!(
                "{head}: {} {at} · {} {pulled} · {} {pushed}",
                tr(lang, "hub_synced"),
                tr(lang, "hub_pulled"),
                tr(lang, "hub_pushed")
            );
            if *conflicts > 0 {
                text.push_str(&format!(" · {} {conflicts}", tr(lang, "hub_conflicts")));
            }
            if *held > 0 {
                text.push_str(&format!(" · {} {held}", tr(lang, "hub_held")));
            }
            if *encrypted {
                text.push_str(&format!(" · {}", tr(lang, "hub_encrypted")));
            }
            let color = if *conflicts > 0 { crate::theme::ERROR_TEXT } else { ui.visuals().text_color() };
            ui.label(RichText::new(text).color(color)).on_hover_text(&h.url);
        }
        HubState::Offline(why) => {
            ui.label(RichText::new(format!("{head}: {}", tr(lang, "hub_offline"))).color(crate::theme::ERROR_TEXT))
                .on_hover_text(why);
        }
        HubState::Refused(why) => {
            let short: String = why.chars().take(80).collect();
            ui.label(
                RichText::new(format!("{head}: {} — {short}…", tr(lang, "hub_refused")))
                    .color(crate::theme::ERROR_TEXT),
            )
            .on_hover_text(why);
        }
    }
    if let Some(n) = &h.notice {
        ui.label(format!("{} {n}", tr(lang, "hub_claimed")));
    }
    let mine = h.leases.values().filter(|(holder, _)| *holder == h.me).count();
    if mine > 0 {
        ui.label(format!("{} {mine}", tr(lang, "hub_mine")));
    }
    if ui.small_button(tr(lang, "hub_sync_now")).clicked() {
        h.sync_now();
    }
    if ui.small_button(tr(lang, "hub_claim_next")).clicked() {
        h.claim_next(10);
    }
}

/// The lease of the current patch under its heading: ours, or someone else's (then edits to it
/// wait until they release it).
pub fn lease_ui(ui: &mut egui::Ui, ws: &Workstation, key: &str, lang: crate::i18n::Lang) {
    use crate::i18n::tr;
    let Some(h) = &ws.hub else { return };
    let Some((holder, until)) = h.lease_of(key) else { return };
    if holder == h.me {
        ui.label(format!("{} {until}", tr(lang, "hub_held_by_me")));
    } else {
        ui.label(
            egui::RichText::new(format!(
                "{} {holder} {} {until}{}",
                tr(lang, "hub_held_by"),
                tr(lang, "hub_until"),
                tr(lang, "hub_held_note")
            ))
            .color(crate::theme::ERROR_TEXT),
        );
    }
}

/// `2026-12-01T08:30:00Z` as local `HH:MM`.
fn local_time(utc: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(utc)
        .map(|t| t.with_timezone(&chrono::Local).format("%H:%M").to_string())
        .unwrap_or_else(|_| utc.to_string())
}
