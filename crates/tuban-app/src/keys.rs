//! The keyboard: each shortcut becomes a command; nothing here changes state itself.
//! Keys are read only while a project is open, no job runs and no text field has the focus
//! (undo and redo excepted).

use egui::{InputState, Key, Modifiers};

use super::commands::{AppCommand, Command, Commands};
use super::edit::ToolKind;
use super::state::{Period, Workstation};

/// Plain keys of the review: (key, command).
const REVIEW_KEYS: [(Key, Command); 10] = [
    (Key::ArrowRight, Command::Next),
    (Key::J, Command::Next),
    (Key::ArrowLeft, Command::Prev),
    (Key::K, Command::Prev),
    (Key::N, Command::NextUnreviewed),
    (Key::Enter, Command::ConfirmNext),
    (Key::F, Command::Fit),
    (Key::B, Command::Show(Period::Before)),
    (Key::A, Command::Show(Period::After)),
    (Key::Space, Command::TogglePeriod),
];

/// Keys that start a geometry tool: (modifiers, key, tool).
const TOOL_KEYS: [(Modifiers, Key, ToolKind); 5] = [
    (Modifiers::SHIFT, Key::S, ToolKind::SplitPolygon),
    (Modifiers::NONE, Key::S, ToolKind::SplitLine),
    (Modifiers::SHIFT, Key::E, ToolKind::Redraw),
    (Modifiers::NONE, Key::E, ToolKind::Reshape),
    (Modifiers::NONE, Key::M, ToolKind::Measure),
];

/// Keys while a geometry tool is in use (consumed before the review keys).
const TOOL_ACTIVE_KEYS: [(Key, Command); 3] =
    [(Key::Enter, Command::FinishTool), (Key::Backspace, Command::ToolUndoVertex), (Key::Escape, Command::CancelTool)];

/// Keys while a clue is being drawn (consumed before the review keys: Enter finishes the clue).
const DRAWING_KEYS: [(Key, Command); 3] =
    [(Key::Enter, Command::FinishClue), (Key::Backspace, Command::ClueUndoVertex), (Key::Escape, Command::CancelClue)];

const DIGITS: [Key; 9] =
    [Key::Num1, Key::Num2, Key::Num3, Key::Num4, Key::Num5, Key::Num6, Key::Num7, Key::Num8, Key::Num9];

/// Turns this frame's key presses into commands.
pub fn keys(ctx: &egui::Context, ws: &Workstation, cmds: &mut Commands) {
    let typing = ctx.egui_wants_keyboard_input();
    let verdict_count = {
        let t = ws.project.template();
        t.field(&t.roles().verdict).map_or(0, |f| f.codes().len())
    };
    let drawing = ws.drawing.as_ref().is_some_and(|d| !d.finished);
    ctx.input_mut(|i| {
        if i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z) {
            cmds.push(Command::Redo);
        }
        if i.consume_key(Modifiers::COMMAND, Key::Z) {
            cmds.push(Command::Undo);
        }
        if typing {
            return;
        }
        if drawing {
            consume(i, &DRAWING_KEYS, cmds);
        }
        if ws.tool.is_some() {
            consume(i, &TOOL_ACTIVE_KEYS, cmds);
        }
        for (mods, key, tool) in TOOL_KEYS {
            // Shift first: a plain-key match ignores Shift.
            if i.consume_key(mods, key) {
                cmds.push(Command::StartTool(tool));
            }
        }
        if i.consume_key(Modifiers::NONE, Key::R) {
            cmds.push(Command::ReuseLast);
        }
        if i.consume_key(Modifiers::NONE, Key::L) {
            cmds.push(Command::ToggleReference(None));
        }
        if i.consume_key(Modifiers::NONE, Key::V) {
            cmds.push(AppCommand::CycleView);
        }
        consume(i, &REVIEW_KEYS, cmds);
        for (n, key) in DIGITS.iter().enumerate().take(verdict_count) {
            // Shift first: a plain-key match ignores Shift.
            if i.consume_key(Modifiers::SHIFT, *key) {
                cmds.push(Command::Verdict { n: n + 1, advance: true });
            } else if i.consume_key(Modifiers::NONE, *key) {
                cmds.push(Command::Verdict { n: n + 1, advance: false });
            }
        }
        if i.consume_key(Modifiers::SHIFT, Key::Slash)
            || i.consume_key(Modifiers::SHIFT, Key::Questionmark)
            || i.consume_key(Modifiers::NONE, Key::Questionmark)
        {
            cmds.push(AppCommand::ToggleHelp);
        } else if i.consume_key(Modifiers::NONE, Key::Slash) {
            cmds.push(AppCommand::FocusSearch);
        }
    });
}

fn consume(i: &mut InputState, keys: &[(Key, Command)], cmds: &mut Commands) {
    for (key, cmd) in keys {
        if i.consume_key(Modifiers::NONE, *key) {
            cmds.push(cmd.clone());
        }
    }
}
