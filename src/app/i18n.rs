//! Every user-visible string of the app, in Chinese (default) and English.

use serde::{Deserialize, Serialize};

/// Interface language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Lang {
    /// 中文 (default).
    #[default]
    Zh,
    /// English.
    En,
}

/// (key, 中文, English).
const TABLE: &[(&str, &str, &str)] = &[
    ("app_title", "图斑核查", "tuban — change-patch verification"),
    ("menu_file", "文件", "File"),
    ("menu_view", "视图", "View"),
    ("menu_help", "帮助", "Help"),
    ("menu_language", "语言 / Language", "Language / 语言"),
    ("open_project", "打开项目…", "Open project…"),
    ("new_project", "新建项目…", "New project…"),
    ("import_batch", "导入补充批次…", "Import a later batch…"),
    ("close_project", "关闭项目", "Close project"),
    ("quit", "退出", "Quit"),
    ("keys_help", "快捷键", "Keyboard shortcuts"),
    ("start_title", "图斑核查", "Change-patch verification"),
    ("start_subtitle", "离线核查遥感变化图斑：对照前后影像，填写核查结果，所有修改立即保存。", "Verify remote-sensing change patches offline: compare imagery, record the verdict; every change is saved at once."),
    ("recent", "最近的项目", "Recent projects"),
    ("no_recent", "（无）", "(none)"),
    ("path", "路径", "Path"),
    ("browse", "浏览…", "Browse…"),
    ("open", "打开", "Open"),
    ("create_and_import", "新建并导入", "Create and import"),
    ("patch_file", "图斑文件（.shp/.zip/.gpkg/.geojson/.kml/.csv）", "Patch file (.shp/.zip/.gpkg/.geojson/.kml/.csv)"),
    ("project_file", "项目文件（.gpkg）", "Project file (.gpkg)"),
    ("template", "模板", "Template"),
    ("county_code", "县代码", "County code"),
    ("year", "监测年度", "Monitoring year"),
    ("drop_hint", "也可以把图斑文件或项目文件拖到窗口中。", "You can also drop a patch file or a project file on the window."),
    ("importing", "正在导入", "Importing"),
    ("cancel", "取消", "Cancel"),
    ("import_done", "导入完成", "Import finished"),
    ("close", "关闭", "Close"),
    ("added", "新增", "added"),
    ("updated", "更新", "updated"),
    ("unchanged", "未变", "unchanged"),
    ("skipped", "跳过", "skipped"),
    ("problems", "问题", "problems"),
    ("queue", "图斑列表", "Patches"),
    ("search", "搜索编号/乡镇/村", "Search id / township / village"),
    ("all", "全部", "All"),
    ("status", "状态", "Status"),
    ("township", "乡镇", "Township"),
    ("verdict", "结论", "Verdict"),
    ("only_problems", "只看有问题的", "Only with problems"),
    ("sort", "排序", "Sort"),
    ("sort_id", "按编号", "By id"),
    ("sort_township", "按乡镇", "By township"),
    ("sort_status", "按状态", "By status"),
    ("sort_area", "按面积", "By area"),
    ("reviewed", "已核查", "Reviewed"),
    ("id", "编号", "Id"),
    ("not_set", "（未填）", "(not set)"),
    ("form", "核查表", "Verification form"),
    ("no_patch", "未选择图斑", "No patch selected"),
    ("area", "面积", "Area"),
    ("set_date", "填日期", "Set date"),
    ("clear", "清除", "Clear"),
    ("yes", "是", "Yes"),
    ("no", "否", "No"),
    ("filter", "筛选…", "Filter…"),
    ("read_only", "下发/计算字段，不可修改", "Issued or computed: read-only"),
    ("import_issues", "导入时发现的问题", "Found at import"),
    ("extra_attrs", "附加属性（只读）", "Extra attributes (read-only)"),
    ("history", "修改记录", "History"),
    ("saved_at", "已保存", "Saved"),
    ("not_saved_yet", "尚无修改", "No changes yet"),
    ("position", "第", "Patch"),
    ("of", "/", "of"),
    ("before", "前时相", "Before"),
    ("after", "后时相", "After"),
    ("no_imagery", "未登记影像（tuban imagery add）", "No imagery registered (tuban imagery add)"),
    ("imagery_error", "影像错误", "Imagery error"),
    ("cursor", "光标", "Cursor"),
    ("help_title", "快捷键", "Keyboard shortcuts"),
    ("key_next", "下一个图斑", "Next patch"),
    ("key_prev", "上一个图斑", "Previous patch"),
    ("key_next_unreviewed", "下一个未核查图斑", "Next unreviewed patch"),
    ("key_verdict", "设定核查结论（按模板顺序）", "Set the verdict (template order)"),
    ("key_verdict_next", "设定结论并跳到下一个", "Set the verdict and go to the next"),
    ("key_confirm", "确认并跳到下一个", "Confirm and go to the next"),
    ("key_undo", "撤销", "Undo"),
    ("key_redo", "重做", "Redo"),
    ("key_fit", "缩放到图斑", "Fit the patch"),
    ("key_search", "搜索", "Search"),
    ("key_before_after", "前/后时相影像", "Before / after imagery"),
    ("key_help", "显示/隐藏本帮助", "Show / hide this help"),
    ("undo_nothing", "没有可撤销的修改", "Nothing to undo"),
    ("redo_nothing", "没有可重做的修改", "Nothing to redo"),
    ("undone", "已撤销", "Undone"),
    ("redone", "已重做", "Redone"),
    ("error", "错误", "Error"),
    ("st_unreviewed", "未核查", "Unreviewed"),
    ("st_in_progress", "核查中", "In progress"),
    ("st_done", "已核查", "Done"),
    ("st_problem", "有问题", "Problem"),
    ("confirm_next", "确认，下一个（Enter）", "Confirm, next (Enter)"),
    ("fit", "缩放到图斑", "Fit patch"),
    ("language_zh", "中文", "中文"),
    ("view_single", "单视图", "Single"),
    ("case_opened", "已立案", "Case opened"),
    ("sealed", "已封库", "Sealed"),
    ("unsealed", "已解封", "Unsealed"),
    ("spot_drawn", "已抽样", "Sample drawn"),
    ("photos", "外业照片", "Field photos"),
    ("no_photos", "（无照片，可把照片拖进窗口）", "(no photos; drop photos on the window)"),
    ("unassigned_photos", "未匹配的照片", "Unmatched photos"),
    ("assign_here", "归入当前图斑", "Assign to this patch"),
    ("notes", "备注与标记", "Comments and flags"),
    ("confidence", "把握程度", "Confidence"),
    ("add_comment", "添加备注", "Add comment"),
    ("case", "案件", "Case"),
    ("no_case", "尚未立案", "No case"),
    ("open_case", "立案", "Open a case"),
    ("menu_work", "业务", "Workflow"),
    ("ledger", "案件台账", "Case ledger"),
    ("propose_cases", "为违法图斑立案", "Open cases for illegal patches"),
    ("overdue", "逾期未销号", "Overdue"),
    ("criminal", "达到涉刑标准", "Criminal threshold"),
    ("split", "疑似拆分处罚", "Possible split penalty"),
    ("without_case", "违法未立案", "Illegal without case"),
    ("spot_check", "抽查复核", "Spot-check"),
    ("draw", "抽样", "Draw"),
    ("share", "比例", "Share"),
    ("kappa", "一致性 Kappa", "Kappa"),
    ("seal", "封库…", "Seal…"),
    ("unseal", "解封…", "Unseal…"),
    ("verify", "校验封库", "Verify seal"),
    ("reason", "原因", "Reason"),
    ("seal_confirm", "封库后不能再修改。确定封库？", "After sealing no edits are possible. Seal now?"),
    ("confirm", "确定", "OK"),
    ("history_of_patch", "本图斑修改记录", "History of this patch"),
    ("township_col", "乡镇", "Township"),
    ("cases_col", "违法宗数", "Cases"),
    ("area_mu_col", "违法面积(亩)", "Area (mu)"),
    ("inv_rate", "查处到位率", "Investigation rate"),
    ("rect_rate", "整改到位率", "Rectification rate"),
    ("filing_rate", "立案率", "Filing rate"),
    ("conclusion_rate", "结案率", "Conclusion rate"),
    ("total", "合计", "Total"),
    ("importing_photos", "正在导入照片", "Importing photos"),
    ("investigation", "查处", "Investigation"),
    ("rectification", "整改", "Rectification"),
    ("step", "流程", "Step"),
    ("rebound", "反弹：与已整改/销号的问题重叠", "Rebound: overlaps a closed or rectified problem"),
    ("add_photos", "添加照片…", "Add photos…"),
    ("view_side", "并排", "Side by side"),
    ("view_swipe", "卷帘", "Swipe"),
    ("imagery", "影像", "Imagery"),
    ("auto", "自动（按时相）", "Auto (by date)"),
    ("time", "时间", "Time"),
    ("offline", "离线模式（不访问网络）", "Offline (no network access)"),
    ("key_view", "切换单视图/并排/卷帘", "Single / side by side / swipe"),
    ("language_en", "English", "English"),
];

/// The text of `key` in `lang`; the key itself when missing (visible in tests, never a panic).
pub fn tr(lang: Lang, key: &'static str) -> &'static str {
    match TABLE.iter().find(|(k, _, _)| *k == key) {
        Some((_, zh, en)) => match lang {
            Lang::Zh => zh,
            Lang::En => en,
        },
        None => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_complete() {
        let mut seen = std::collections::HashSet::new();
        for (k, zh, en) in TABLE {
            assert!(seen.insert(k), "duplicate key {k}");
            assert!(!zh.is_empty() && !en.is_empty(), "{k}");
        }
        assert_eq!(tr(Lang::En, "queue"), "Patches");
        assert_eq!(tr(Lang::Zh, "queue"), "图斑列表");
    }
}
