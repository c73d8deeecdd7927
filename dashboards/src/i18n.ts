// Every label of the pages in Simplified Chinese (default) and English. The language lives in
// the URL (`lang=en`), so a link reproduces the view in its language.

export type Lang = "zh" | "en";

const words = {
  app_title: ["中小企业公共服务平台数据直报", "SME Public Service Platform Reporting"],
  login: ["登录", "Log in"],
  logout: ["退出", "Log out"],
  user_name: ["用户名", "User name"],
  password: ["密码", "Password"],
  login_failed: ["登录失败", "Login failed"],
  language_switch: ["English", "中文"],
  role_planner: ["规划人员", "Planner"],
  role_coordinator: ["地方主管部门", "Coordinator"],
  role_admin: ["管理员", "Admin"],
  national: ["全国", "National"],
  no_data: ["无数据", "no data"],
  loading: ["加载中…", "Loading…"],
  show_table: ["数据表", "Data table"],
  show_chart: ["图表", "Chart"],
  download_csv: ["下载 CSV", "Download CSV"],
  download_png: ["下载 PNG", "Download PNG"],
  export_title: ["导出", "Export"],
  export_statistic: ["统计内容", "Statistic"],
  export_level: ["行级别", "Rows per"],
  export_format: ["格式", "Format"],
  export_download: ["导出文件", "Download export"],
  stat_volume: ["服务量", "Service volume"],
  stat_completeness: ["报送完整性与及时性", "Completeness and timeliness"],
  stat_missing: ["未报送平台", "Platforms not reported"],
  stat_coverage: ["布局与覆盖", "Layout and coverage"],
  stat_staff: ["人员与基本条件", "Staff and basic conditions"],
  stat_satisfaction: ["满意度", "Satisfaction"],
  stat_demo: ["示范平台候选", "Demo-platform candidates"],
  level_default: ["下一级（默认）", "One level below (default)"],
  level_province: ["省份", "Province"],
  level_prefecture: ["地市", "Prefecture"],
  level_county: ["区县", "County"],
  level_platform: ["平台", "Platform"],
  filter_from: ["起始月份", "From month"],
  filter_to: ["截止月份", "To month"],
  filter_region: ["地区", "Region"],
  filter_function: ["服务功能", "Function"],
  filter_industry: ["行业", "Industry"],
  filter_size: ["企业规模", "Enterprise size"],
  filter_level: ["平台级别", "Platform level"],
  filter_platform: ["平台", "Platform"],
  all: ["全部", "All"],
  not_filtered_by: ["本图不按以下条件筛选：", "Not filtered by: "],
  periods_read: ["读取报告期：", "Periods read: "],
  reported_expected: ["已报/应报", "Reported/expected"],
  code: ["代码", "Code"],
  name: ["名称", "Name"],
  value: ["数值", "Value"],
  breadcrumb_up: ["返回上级", "Up"],
  drill: ["查看下级", "Drill down"],
  pick_platform: ["请在上方选择一个平台。", "Pick a platform above."],
  error: ["出错", "Error"],
  // pages for actions
  page_reopen: ["重新开放报告期", "Reopen a period"],
  page_registry: ["平台名录导入", "Registry upload"],
  page_sme_counts: ["中小企业数导入", "SME-count upload"],
  period: ["报告期", "Period"],
  target_platform: ["平台", "Platform"],
  target_region: ["整个地区", "Whole region"],
  reason: ["原因", "Reason"],
  until: ["开放至（可选）", "Open until (optional)"],
  submit_reopen: ["重新开放", "Reopen"],
  reopened: ["已重新开放", "Reopened"],
  reopenings: ["重新开放记录", "Reopenings"],
  by_whom: ["操作人", "By"],
  file: ["文件", "File"],
  preview: ["预览（不写入）", "Preview (writes nothing)"],
  confirm_import: ["确认导入", "Confirm import"],
  preview_ok: ["预览通过：共 {rows} 行，新增或变更 {changed} 行。确认后才会写入。", "Preview passed: {rows} rows, {changed} new or changed. Nothing is written until you confirm."],
  imported: ["已导入：共 {rows} 行，新增或变更 {changed} 行。", "Imported: {rows} rows, {changed} new or changed."],
  row_problems: ["文件有问题，未导入任何内容：", "The file has problems; nothing was imported:"],
  location: ["位置", "Where"],
  column: ["列", "Column"],
  problem: ["问题", "Problem"],
  warnings: ["提示", "Warnings"],
  // figures
  active_platforms: ["在营平台数", "Active platforms"],
  smes: ["中小企业数", "SMEs"],
  platforms_per_10k_smes: ["每万家中小企业平台数", "Platforms per 10 000 SMEs"],
  enterprises_reached: ["服务企业数（去重）", "Firms reached (distinct)"],
  reach: ["服务覆盖率", "Reach"],
  missing_functions: ["缺失功能数", "Functions without provider"],
  functions_without_provider: ["无人提供的功能", "Functions nobody provides"],
  platforms_with_records: ["报送服务记录的平台", "Platforms sending record detail"],
  firms_located: ["本地受服务企业", "Firms located here served"],
  firms_served_from_elsewhere: ["其中由外地平台服务", "Of them served from elsewhere"],
  inflow_share: ["跨地区服务占比", "Cross-region share"],
  monthly_reports: ["月报（已报/应报）", "Monthly reports (reported/expected)"],
  rank: ["排名", "Rank"],
  priority: ["优先度", "Priority"],
  density_gap: ["密度缺口", "Density gap"],
  reach_gap: ["覆盖缺口", "Reach gap"],
  regions_without_provider: ["无人提供该功能的地区数", "Regions without a provider"],
  regions_assessed: ["有报送的地区数", "Regions with reports"],
  formula: ["公式：", "Formula: "],
  not_ranked: ["未排名：", "Not ranked: "],
  services: ["服务次数", "Services"],
  free_services: ["公益服务次数", "Free services"],
  paid_services: ["收费服务次数", "Paid services"],
  free_share: ["公益服务占比", "Free share"],
  revenue_yuan: ["服务收入（元）", "Revenue (yuan)"],
  person_times: ["服务人次", "Person-times"],
  records_note: ["按服务记录统计：{with} / {reports} 份报告含服务记录，覆盖 {platforms} 个平台。", "Counted from service records: {with} of {reports} reports carried record detail, from {platforms} platforms."],
  responses: ["答卷数", "Responses"],
  satisfied: ["满意及非常满意", "Satisfied or very"],
  rate: ["满意率", "Satisfaction rate"],
  mean_score: ["平均分", "Mean score"],
  previous_rate: ["上一区间满意率", "Previous range's rate"],
  rate_change: ["满意率变化", "Change of the rate"],
  with_staff: ["含人员信息的报告", "Reports with staff"],
  professional_staff: ["专业服务人员", "Professional staff"],
  with_degree_or_title: ["大专以上或中级职称", "Degree or mid title"],
  degree_share: ["学历职称占比", "Degree share"],
  w101_share: ["W101 达标比例", "W101 met"],
  w102_share: ["W102 达标比例", "W102 met"],
  w103_share: ["W103 达标比例", "W103 met"],
  w101_assessed: ["W101 达标/评估", "W101 met/assessed"],
  w102_assessed: ["W102 达标/评估", "W102 met/assessed"],
  w103_assessed: ["W103 达标/评估", "W103 met/assessed"],
  service_revenue_share: ["服务收入占比", "Service-revenue share"],
  bucket: ["占比区间", "Share bucket"],
  reports: ["报告数", "Reports"],
  expected: ["应报", "Expected"],
  received: ["已报", "Received"],
  on_time: ["按时", "On time"],
  completeness_rate: ["报送率", "Reporting rate"],
  on_time_rate: ["按时报送率", "On-time rate"],
  due_at: ["截止时间", "Due"],
  as_of: ["数据时间", "As of"],
  credit_code: ["统一社会信用代码", "Credit code"],
  region_code: ["地区代码", "Region code"],
  region_name: ["地区", "Region"],
  level: ["级别", "Level"],
  platform_type: ["类型", "Type"],
  registered: ["登记日期", "Registered"],
  closed: ["注销日期", "Closed"],
  was_expected: ["应报", "Expected"],
  was_reported: ["已报", "Reported"],
  revision: ["修订版本", "Revision"],
  satisfaction_rate: ["满意率", "Satisfaction rate"],
  yes: ["是", "yes"],
  no: ["否", "no"],
  not_given: ["未填写", "not given"],
} as const;

export type Word = keyof typeof words;

let current: Lang = "zh";

export function setLang(lang: Lang): void {
  current = lang;
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

export function lang(): Lang {
  return current;
}

/** The label `w` in the current language, with `{name}` placeholders filled. */
export function t(w: Word, vars: Record<string, string | number> = {}): string {
  const text: string = words[w][current === "zh" ? 0 : 1];
  return text.replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ""));
}

/** A pair given inline (definitions carry both languages). */
export function pick(zh: string, en: string): string {
  return current === "zh" ? zh : en;
}

export const FUNCTIONS: Record<string, [string, string]> = {
  "1": ["信息查询", "Information"],
  "2": ["技术创新", "Technology innovation"],
  "3": ["质量管理", "Quality"],
  "4": ["管理咨询", "Management consulting"],
  "5": ["创业辅导", "Entrepreneurship"],
  "6": ["市场开拓", "Market expansion"],
  "7": ["人员培训", "Training"],
};

export const SIZES: Record<string, [string, string]> = {
  micro: ["微型", "Micro"],
  small: ["小型", "Small"],
  medium: ["中型", "Medium"],
};

export const LEVELS: Record<string, [string, string]> = {
  none: ["无", "None"],
  provincial_demo: ["省级示范", "Provincial demo"],
  national_demo: ["国家级示范", "National demo"],
};

export const INDUSTRIES: Record<string, [string, string]> = {
  A: ["农、林、牧、渔业", "Agriculture"],
  B: ["采矿业", "Mining"],
  C: ["制造业", "Manufacturing"],
  D: ["电力、热力、燃气及水", "Utilities"],
  E: ["建筑业", "Construction"],
  F: ["批发和零售业", "Wholesale and retail"],
  G: ["交通运输、仓储和邮政业", "Transport and storage"],
  H: ["住宿和餐饮业", "Accommodation and catering"],
  I: ["信息传输、软件和信息技术服务业", "Information technology"],
  J: ["金融业", "Finance"],
  K: ["房地产业", "Real estate"],
  L: ["租赁和商务服务业", "Leasing and business services"],
  M: ["科学研究和技术服务业", "Research and technical services"],
  N: ["水利、环境和公共设施管理业", "Water, environment, public facilities"],
  O: ["居民服务、修理和其他服务业", "Household and other services"],
  P: ["教育", "Education"],
  Q: ["卫生和社会工作", "Health and social work"],
  R: ["文化、体育和娱乐业", "Culture, sports, entertainment"],
  S: ["公共管理、社会保障和社会组织", "Public administration"],
  T: ["国际组织", "International organisations"],
};

export const BUCKETS: Record<string, [string, string]> = {
  none: ["无专业人员", "No professional staff"],
  "0-25": ["0–25%", "0–25 %"],
  "25-50": ["25–50%", "25–50 %"],
  "50-75": ["50–75%", "50–75 %"],
  "75-100": ["75–100%", "75–100 %"],
};

/** The label of `key` in one of the tables above. */
export function label(table: Record<string, [string, string]>, key: string): string {
  const pair = table[key];
  if (!pair) return key === "" ? t("not_given") : key;
  return pair[current === "zh" ? 0 : 1];
}
