//! The team hub from the window: a linked project syncs in the background. A hub thread owns
//! the connection: it listens for patches others change (LISTEN/NOTIFY), and every 30 s, on a
//! notification, or shortly after a local edit it asks the UI thread for the changes to push,
//! runs the network half of a sync (`hub::sync::exchange`) and hands the answers back; between
//! frames the UI thread writes them into the project (`hub::sync::settle`, the same code the
//! command line runs), refreshes the rows that changed and the conflict queue. Unreachable, the
//! project keeps working and the status bar says so; the thread tries again.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use tuban_core::hub::sync::{self, Exchange};
use tuban_core::hub::{Hub, HubError};
use tuban_core::store::{Access, HubLink, PushBatch};
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
    Batch(PushBatch),
    SyncNow,
}

enum FromHub {
    WantBatch,
    Exchanged(Box<(PushBatch, Exchange)>),
    Failed { message: String, unreachable: bool },
}

/// A linked project's hub thread and what it last said.
pub struct HubSession {
    tx: Sender<ToHub>,
    rx: Receiver<FromHub>,
    /// Shown in the status bar.
    pub state: HubState,
    /// The address (without password).
    pub url: String,
    seen_save: Option<String>,
    sync_at: Option<Instant>,
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
        std::thread::Builder::new()
            .name("tuban-hub".into())
            .spawn(move || worker(&link, &uid, &from_ui, &to_ui, &wake))
            .ok()?;
        Some(HubSession {
            tx: to_hub,
            rx: from_hub,
            state: HubState::Connecting,
            url,
            seen_save: ws.last_saved.clone(),
            sync_at: None,
        })
    }

    /// Asks for a round now (the status bar's button, F5).
    pub fn sync_now(&self) {
        let _ = self.tx.send(ToHub::SyncNow);
    }
}

/// Between frames: starts the hub thread of a linked project, answers it, settles its rounds.
pub fn tick(ws: &mut Workstation, ctx: &egui::Context) {
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
    while let Ok(msg) = session.rx.try_recv() {
        match msg {
            FromHub::WantBatch => match ws.project.hub_outgoing() {
                Ok(b) => {
                    let _ = session.tx.send(ToHub::Batch(b));
                }
                Err(e) => session.state = HubState::Refused(e.to_string()),
            },
            FromHub::Exchanged(boxed) => {
                let (batch, ex) = *boxed;
                session.state = settle(ws, &batch, &ex);
            }
            FromHub::Failed { message, unreachable } => {
                session.state = if unreachable { HubState::Offline(message) } else { HubState::Refused(message) };
            }
        }
    }
    ws.hub = Some(session);
}

fn settle(ws: &mut Workstation, batch: &PushBatch, ex: &Exchange) -> HubState {
    match sync::settle(&mut ws.project, batch, ex) {
        Ok(r) => {
            let mut changed: Vec<i64> = ex
                .pages
                .iter()
                .flat_map(|(page, _)| page.iter())
                .filter_map(|p| ws.project.fid_of_uid(&p.uid).ok().flatten())
                .collect();
            changed.sort_unstable();
            changed.dedup();
            for fid in changed {
                let _ = ws.refresh(fid);
            }
            if r.pulled.applied > 0 {
                ws.refilter();
            }
            let _ = ws.reload_conflicts();
            HubState::Synced {
                at: chrono::Local::now().format("%H:%M:%S").to_string(),
                pulled: r.pulled.applied,
                pushed: r.pushed.applied,
                conflicts: r.conflicts(),
                held: r.pushed.missing,
                encrypted: r.encrypted,
            }
        }
        Err(e) => HubState::Refused(e.to_string()),
    }
}

/// The hub thread: connect, listen, and run a round when it is due; ends when the window lets
/// go of the project (the channel closes).
fn worker(link: &HubLink, uid: &str, rx: &Receiver<ToHub>, tx: &Sender<FromHub>, wake: &dyn Fn()) {
    let mut hub: Option<Hub> = None;
    let mut due = Instant::now();
    loop {
        // Wait for a reason: due, a request, a notification.
        while Instant::now() < due {
            match rx.try_recv() {
                Ok(ToHub::SyncNow) => due = Instant::now(),
                Ok(ToHub::Batch(_)) => {}
                Err(mpsc::TryRecvError::Disconnected) => return,
                Err(mpsc::TryRecvError::Empty) => {}
            }
            let slice = due.saturating_duration_since(Instant::now()).min(Duration::from_millis(250));
            match hub.as_mut().map(|h| h.wait_for_change(slice)) {
                Some(Ok(uids)) if !uids.is_empty() => due = Instant::now(),
                Some(Err(_)) => hub = None,
                None => std::thread::sleep(slice),
                _ => {}
            }
        }
        let failed = |e: HubError| FromHub::Failed { message: e.to_string(), unreachable: e.is_unreachable() };
        if hub.is_none() {
            match Hub::connect(&link.url).and_then(|mut h| h.listen().map(|()| h)) {
                Ok(h) => hub = Some(h),
                Err(e) => {
                    let retry = e.is_unreachable();
                    if tx.send(failed(e)).is_err() {
                        return;
                    }
                    wake();
                    due = Instant::now() + if retry { RETRY } else { EVERY * 4 };
                    continue;
                }
            }
        }
        // A round: the batch from the UI thread, the exchange, the answers back.
        if tx.send(FromHub::WantBatch).is_err() {
            return;
        }
        wake();
        let batch = loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(ToHub::Batch(b)) => break Some(b),
                Ok(ToHub::SyncNow) => {}
                Err(RecvTimeoutError::Timeout) => break None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        let Some(batch) = batch else {
            due = Instant::now() + EVERY;
            continue;
        };
        // The link's marks as the project holds them now (the UI thread settled the last round).
        let mut now_link = link.clone();
        now_link.pulled_id = batch.pulled_id;
        let msg = match hub.as_mut().map(|h| sync::exchange(h, &now_link, uid, &batch, &Progress::new())) {
            Some(Ok(ex)) => FromHub::Exchanged(Box::new((batch, ex))),
            Some(Err(e)) => {
                if e.is_unreachable() {
                    hub = None;
                }
                failed(e)
            }
            None => continue,
        };
        let unreachable = matches!(msg, FromHub::Failed { unreachable: true, .. });
        if tx.send(msg).is_err() {
            return;
        }
        wake();
        due = Instant::now() + if unreachable { RETRY } else { EVERY };
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
    if ui.small_button(tr(lang, "hub_sync_now")).clicked() {
        h.sync_now();
    }
}
