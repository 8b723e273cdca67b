"""Every user-facing text in one table, in Chinese and English: `LABELS[key] = (zh, en)`. `label(key, **fmt)`
gives the text of the current language (process-wide, set once by the app factory from COCKPIT_LANG), with
`str.format` fields filled in. Data shown as data (region names, categories, channels, units and people in
a flow log) is not here: it stays as the source wrote it. tests/test_labels.py checks that no CJK literal
is left in the product's code, that every key has both texts and that every key the code asks for exists."""

from __future__ import annotations

LANGUAGES = ("zh", "en")  # the position of each text in a LABELS row

LABELS: dict[str, tuple[str, str]] = {
    "app_title": ("城市运行“一网统管”领导驾驶舱", "City Operations Cockpit"),
    "html_lang": ("zh-CN", "en"),
    "big": ("大屏", "Wall"), "medium": ("中屏", "Tablet"), "small": ("小屏", "Phone"),
    "home_big": ("指挥中心大屏 · 一屏总揽", "Control-room wall · the whole city at a glance"),
    "home_medium": ("领导平板 · 逐级下钻", "Leaders' tablet · drill down level by level"),
    "home_small": ("网格员手机 · 随身办、随身看", "Staff phone · my area, my events"),
    "as_of": ("数据截至", "Data as of"), "stale": ("数据已过期", "data is stale"), "waiting": ("等待数据…", "Waiting for data…"),
    "live": ("实时", "Live"),
    "stale_redis": ("缓存不可用", "cache unavailable"), "stale_source": ("数据源异常", "source error"),
    "list_sep": ("、", ", "), "label_value": ("{label}：{value}", "{label}: {value}"),
    "window_today": ("今日", "Today"), "window_7d": ("近7日", "Last 7 days"), "window_30d": ("近30日", "Last 30 days"),
    "window_quarter": ("本季度", "This quarter"), "window_custom": ("自定义", "Custom"), "window_week": ("本周", "This week"),
    "window_month": ("本月", "This month"),
    # KPIs (keys match contract/metrics.py)
    "reported": ("事件数", "Events"), "open": ("处置中", "Open"), "overdue": ("超期", "Overdue"),
    "closed": ("已办结", "Closed"),
    "on_time_rate": ("按期办结率", "On-time closure"), "same_day_rate": ("当日清零率", "Same-day clearance"),
    "grid_settled_rate": ("网格内解决率", "Settled in grid"), "satisfaction_rate": ("满意率", "Satisfaction"),
    "reopened": ("重办", "Reopened"), "camera_online_rate": ("摄像头在线率", "Cameras online"),
    "safety_index": ("平安指数", "Safety index"), "public_security": ("群众安全感", "Sense of security"),
    "blind_grids": ("无监控网格", "Grids without cameras"), "cameras": ("摄像头", "Cameras"),
    "cameras_online": ("在线", "Online"), "iot_devices": ("物联感知设备", "IoT sensors"),
    "median_dispatch_min": ("派发中位时长", "Median to dispatch"), "median_handle_min": ("处置中位时长", "Median to handle"),
    "median_verify_min": ("核查中位时长", "Median to verify"), "median_close_min": ("办结中位时长", "Median to close"),
    "fmt_minutes": ("{m:.0f}分钟", "{m:.0f} min"), "fmt_hours": ("{h:.1f}小时", "{h:.1f} h"),
    "n_events": ("{n}件", "{n} events"), "events_unit": ("件", "events"), "days_unit": ("天", "days"),
    # map measures (queries/views.py MAP_MEASURES)
    "measure_density": ("事件密度(件/km²)", "Events per km²"), "measure_overdue": ("超期事件", "Overdue events"),
    "measure_safety_index": ("平安指数", "Safety index"), "measure_camera_online_rate": ("摄像头在线率", "Cameras online"),
    # stages
    "stage_reported": ("上报", "Reported"), "stage_dispatched": ("派发", "Dispatched"), "stage_handled": ("处置", "Handled"),
    "stage_verified": ("核查", "Verified"), "stage_closed": ("办结", "Closed"), "stage_reopened": ("回访重办", "Reopened"),
    "stage_extended": ("延期", "Extended"), "stage_deferred": ("缓办", "Deferred"), "stage_hung": ("挂账", "Hung"),
    # levels
    "level_city": ("市", "City"), "level_district": ("区", "District"), "level_street": ("街道", "Street"),
    "level_community": ("社区", "Community"), "level_grid": ("网格", "Grid"),
    # panels
    "district_map": ("各区态势", "Districts"), "ticker": ("最新事件", "Latest events"), "by_category": ("事件类别", "Categories"),
    "by_channel": ("来源渠道", "Channels"), "by_hour": ("今日分时事件", "Events by hour today"), "ranking": ("区域排名", "Ranking"),
    "alerts": ("预警", "Alerts"), "loop": ("闭环处置", "Closed loop"), "map_measure": ("地图指标", "Map measure"),
    "back": ("返回", "Back"), "children": ("下辖区域", "Sub-regions"),
    "children_count": ("下辖区域({level} {n})", "Sub-regions ({n} × {level})"), "quarantined": ("隔离数据", "Quarantined rows"),
    # wall (大屏): carousel pages, panels, alerts, deltas
    "page_overview": ("综合态势", "Overview"), "page_events": ("事件处置", "Events"), "page_safety": ("平安建设", "Safety"),
    "page_cameras": ("视频感知", "Cameras"), "page_departments": ("部门履职", "Departments"),
    # city vital signs (城市体征): components/vital_signs.py
    "page_vitals": ("城市体征", "Vital signs"),
    "vs_day": ("较昨日", "vs. yesterday"), "vs_week": ("较上周", "vs. last week"),
    "vs_status_ok": ("正常", "Normal"), "vs_status_warn": ("预警", "Warning"), "vs_status_alarm": ("告警", "Alarm"),
    "vs_status_stale": ("数据延迟", "Late"), "vs_status_none": ("未接入", "Not connected"),
    "vs_last": ("最后数据 {t}", "last value {t}"), "vs_updated": ("更新于 {t}", "updated {t}"),
    "vs_none_here": ("本区域暂无分区体征指标", "No indicator has values for this region"),
    "vs_alarms": ("体征预警", "Vital-sign alarms"), "vs_no_alarms": ("暂无体征预警", "No vital-sign alarms"),
    "vs_warn_line": ("预警线", "Warning line"), "vs_alarm_line": ("告警线", "Alarm line"),
    "vs_trend": ("近24小时", "Last 24 hours"), "vs_sites": ("{n}个站点", "{n} sites"),
    "alert_indicator": ("城市体征", "Vital signs"),
    "alert_text_indicator": ("{text} {value:,.4g}，预警线 {threshold:,.4g}", "{text} {value:,.4g}, line {threshold:,.4g}"),
    "alert_count": ("预警", "Alerts"), "alert_overdue": ("超期", "Overdue"), "alert_spike": ("异常激增", "Spike"),
    "alert_camera": ("视频离线", "Cameras offline"),
    # an alert's sentence, from the alerts frame's kind, value and threshold (etl/transforms/alerts.py)
    "alert_text_overdue": ("超期事件 {value:.0f} 件", "{value:.0f} overdue events"),
    "alert_text_spike": ("今日事件 {value:.0f} 件，预警线 {threshold:.1f}", "{value:.0f} events today, alert line {threshold:.1f}"),
    "alert_text_camera": ("摄像头在线率 {value:.1%}", "Cameras online {value:.1%}"),
    "alert_dept_overdue": ("部门超期", "Department overdue"),
    "alert_text_dept_overdue": ("超期案件 {value:.0f} 件", "{value:.0f} overdue cases"),
    "alert_text_at_risk": ("将超期事件 {value:.0f} 件", "{value:.0f} events due within hours"),
    # 预警预测 (components/forecast_panel.py, the wall's hourly band, the briefing)
    "forecast_title": ("预警预测 · 明日预计", "Forecast · tomorrow"), "forecast_tomorrow": ("明日预计", "Expected tomorrow"),
    "forecast_week": ("未来7日预计（{first}–{last}）", "Next 7 days ({first}–{last})"),
    "forecast_interval": ("80%区间 {lo}–{hi}", "80% interval {lo}–{hi}"),
    "forecast_seen": ("近4周实际", "Last 4 weeks seen"), "forecast_expected": ("预计", "Expected"),
    "forecast_band": ("80%区间", "80% interval"), "forecast_by_category": ("明日分类预计", "Tomorrow by category"),
    "forecast_children": ("明日最忙（对比近4周同星期）", "Busiest tomorrow (vs the same weekday, last 4 weeks)"),
    "forecast_col_category": ("类别", "Category"), "forecast_col_expected": ("预计", "Expected"),
    "forecast_col_band": ("区间", "Interval"), "forecast_col_region": ("区域", "Region"),
    "forecast_col_usual": ("常态", "Usual"), "forecast_col_ratio": ("对比常态", "vs usual"),
    "forecast_ratio": ("{ratio} 倍", "{ratio}×"),
    "forecast_day_holiday": ("节假日", "public holiday"), "forecast_day_makeup": ("调休上班", "make-up working day"),
    "forecast_none": ("暂无预测（历史不足或预测任务尚未运行）", "No forecast yet (too little history, or the job has not run)"),
    "forecast_note": ("按日事件数预测（MSTL，周季节性；节假日与调休按国务院安排）；7日区间为逐日区间之和",
                      "Daily events forecast (MSTL, weekly season; holidays and make-up days per the State Council); the 7-day interval adds the days' intervals"),
    "forecast_calendar_unknown": ("节假日日历仅覆盖至 {year} 年：之后的日期按星期推算，未计节假日与调休",
                                  "The holiday calendar stops at {year}: later days are taken by weekday, without holidays or make-up days"),
    "expected_label": ("今日预期", "Expected today"), "expected_band_label": ("预期区间(80%)", "Expected, 80% band"),
    "brief_s_tomorrow": ("十、明日预计", "10. Expected tomorrow"),
    # the expected rule (COCKPIT_ALERT_RULE=expected, etl/transforms/forecast.py expected_alerts): value = events so far
    # today, threshold = expected so far, ratio = value / threshold
    "alert_expected_above": ("高于预期", "Above expected"), "alert_expected_below": ("低于预期", "Below expected"),
    "alert_text_expected_above": ("高于预期 {ratio:.1f} 倍（今日 {value:.0f} 件，预期 {threshold:.0f} 件）",
                                  "{ratio:.1f}× expected ({value:.0f} events today, {threshold:.0f} expected)"),
    "alert_text_expected_below": ("低于预期：仅为预期的 {ratio:.0%}（今日 {value:.0f} 件，预期 {threshold:.0f} 件）",
                                  "Below expected: {ratio:.0%} of it ({value:.0f} events today, {threshold:.0f} expected)"),
    "safety_trend": ("平安指数趋势(近12月)", "Safety index, last 12 months"),
    "safety_ranking": ("各区平安指数", "Safety index by district"),
    "camera_status": ("摄像头状态", "Camera status"), "camera_ranking": ("各区视频在线", "Cameras online by district"),
    "offline": ("离线", "Offline"), "delta_flat": ("＝", "="),
    "vs_yesterday": ("较昨日同时", "vs. yesterday"), "vs_last_month": ("较上月", "vs. last month"),
    "map_level_district": ("区", "District"), "map_level_street": ("街道", "Street"),
    "offline_wait": ("与服务器的连接中断，正在自动重连…", "Connection to the server lost, reconnecting…"),
    "waiting_data": ("等待数据发布…", "Waiting for the first data…"),
    "since": ("始于", "Since"), "today_label": ("今日", "Today"), "avg7_label": ("近7日均值", "7-day average"),
    # phone screen (layouts/small.py)
    "my_queue": ("我的待办", "My events"), "all_area": ("全部", "All"), "due": ("期限", "Deadline"),
    "overdue_by": ("已超期", "Overdue by"), "time_left": ("剩余", "Left:"),
    "event_detail": ("事件详情", "Event"), "no_queue": ("暂无待办事件", "No open events"), "no_alerts": ("暂无预警", "No alerts"),
    "my_map": ("辖区地图", "Map of my area"), "event_gone": ("未找到该事件的处置记录", "No record of this event"),
    "back_to_list": ("‹ 返回", "‹ Back"), "timeline": ("处置进度", "Progress"),
    "pending": ("待办", "Open"), "switch_area": ("切换区域", "Switch area"),
    "small_overdue_alert": ("超期 {n} 件，最早 已超期 {span}", "{n} overdue, the oldest by {span}"),
    # time spans (components/timeline_view.py fmt_span)
    "span_min": ("{m}分钟", "{m} min"), "span_hours": ("{h}小时", "{h} h"), "span_hours_min": ("{h}小时{m}分", "{h} h {m} min"),
    "span_days_hours": ("{d}天{h}小时", "{d} d {h} h"),
    # tablet region panels (components/region_panels.py)
    "recurring": ("重复/高发问题", "Recurring problems"), "recurring_none": ("近30日无重复/高发问题", "No recurring problems in 30 days"),
    "recurring_clusters": ("问题点位", "Hot spots"), "recurring_events": ("涉及事件", "Events in them"),
    "recurring_span": ("近30日", "Last 30 days"), "category": ("类别", "Category"), "where": ("位置", "Where"),
    "examples": ("事件(最新5件)", "Events (newest 5)"),
    "safety_of_street": ("社区、网格无平安指数，显示所属街道", "No safety index below a street; the street's"),
    "safety_month": ("月份", "Month"), "safety_components": ("分项指数", "Components"),
    "safety_rank_city": ("排名", "Rank"), "safety_rank_district": ("各区排名", "Rank among districts"),
    "safety_rank_street": ("区内街道排名", "Rank in the district"), "rank_of": ("第 {rank} / {of} 名", "{rank} of {of}"),
    "safety_security": ("治安", "Public order"), "safety_fire": ("消防", "Fire"), "safety_traffic": ("交通", "Traffic"),
    "safety_production": ("安全生产", "Work safety"), "safety_disputes": ("矛盾纠纷", "Disputes"),
    "cameras_untagged": ("未打标签", "Untagged"), "cameras_unplaced": ("坐标未核实", "Position not verified"),
    "cameras_unplaced_detail": ("{n}（近似 {approx}，缺失 {missing}）", "{n} ({approx} approximate, {missing} missing)"),
    "blind_more": (" 等 {n} 个", " … {n} in all"),
    # leaders' tablet (layouts/medium.py)
    "rank_title": ("五个一排名", "Ranking"), "rank_week": ("周榜", "Week"), "rank_month": ("月榜", "Month"),
    "rank_quarter": ("季榜", "Quarter"), "score": ("综合得分", "Score"),
    "rank_no": ("名次", "Rank"), "name": ("名称", "Name"), "export_csv": ("导出 CSV", "Export CSV"),
    "export_xlsx": ("导出 Excel", "Export Excel"),
    "escalated_rate": ("越级处置率", "Escalated"), "not_overdue_rate": ("未超期率", "Not overdue"), "stage": ("环节", "Stage"),
    "reached": ("到达", "Reached"), "median": ("中位时长", "Median"), "p90": ("90%分位", "90th percentile"),
    "on_time_by_category": ("各类别按期办结率", "On-time closure by category"),
    "on_time_by_channel": ("各渠道按期办结率", "On-time closure by channel"), "handling_levels": ("处置层级", "Settled at"),
    "overdue_list": ("超期事件(最早在前)", "Overdue events (oldest first)"), "no_overdue": ("暂无超期事件", "No overdue events"),
    "quantile_note": ("时长为对数分箱估计，与精确值相差不超过 ±9%；件数与比率为精确值",
                      "Durations are estimated from log-binned histograms, within ±9% of the exact value; "
                      "counts and rates are exact"),
    "custom_range": ("起止日期", "Date range"), "close": ("关闭", "Close"), "level_handled_grid": ("网格", "Grid"),
    "stage_total": ("全流程", "Whole loop"), "stage_dispatch": ("派发", "Dispatch"), "stage_handle": ("处置", "Handle"),
    "stage_verify": ("核查", "Verify"), "stage_close": ("办结", "Close"),
    "event_list_more": ("共 {n} 件，显示前 {k} 件", "{n} events, the first {k} shown"),
    "stock_note": ("当前，不限时间窗", "now, any report date"),
    # departments (条): the tablet's 部门榜 and a department's view (components/department_panels.py), docs/metrics.md
    "dept_ranking": ("部门榜", "Departments"), "dept_ranking_wall": ("部门榜(本月)", "Departments (this month)"), "department": ("部门", "Department"),
    "unassigned": ("未归属", "Unassigned"),
    "kind_functional": ("职能部门", "Functional"), "kind_territorial": ("属地", "Territorial"),
    "due_to_close": ("应结案", "Due to close"), "closed_cases": ("结案", "Closed"),
    "deferred": ("缓办", "Deferred"), "extended": ("延期", "Extended"), "hung": ("挂账", "Hung"),
    "closure_rate": ("结案率", "Closure rate"), "on_time_closure_rate": ("按期结案率", "On-time closure rate"),
    "rework_rate": ("返工率", "Rework rate"), "extension_rate": ("延期率", "Extension rate"),
    "open_now": ("在办", "Open now"), "overdue_now": ("超期", "Overdue now"), "at_risk_now": ("将超期", "At risk"),
    "formula_closure_rate": ("结案率 = 结案数 ÷ 应结案数", "Closure rate = closed ÷ due to close"),
    "formula_on_time_closure_rate": ("按期结案率 = 按期结案数 ÷ (应结案数 − 批准缓办数)",
                                     "On-time closure = closed on time ÷ (due to close − approved deferrals)"),
    "formula_rework_rate": ("返工率 = 返工(重办)数 ÷ 处置数", "Rework = reopened ÷ handled"),
    "formula_extension_rate": ("延期率 = 延期数 ÷ 立案数", "Extensions = extended ÷ reported"),
    "formula_dept_score": ("综合得分 = 各项加权(返工率、延期率取 1−值)，权重见设置",
                           "Score = weighted rates (1 − rework, 1 − extensions); weights in the settings"),
    "dept_overview": ("{name} · {region}", "{name} · {region}"), "dept_by_region": ("分区域(超期多在前)", "By region (most overdue first)"),
    "dept_by_category": ("分类别", "By category"), "dept_trend": ("每日立案与结案率", "Daily cases and closure rate"),
    "dept_cases": ("超期与将超期案件", "Overdue and at-risk cases"), "dept_clear": ("‹ 全部部门", "‹ All departments"),
    "dept_sub_units": ("下属单位", "Sub-units"), "no_dept_cases": ("暂无超期或将超期案件", "No overdue or at-risk cases"),
    # event timeline (components/timeline_view.py)
    "late_badge": ("超时", "Late"), "reopened_badge": ("重新处置", "Reopened"), "step_took": ("用时", "took"),
    "status": ("状态", "Status"), "handling_level": ("处置层级", "Settled at"), "satisfaction": ("满意度", "Satisfaction"),
    "not_rated": ("未评价", "Not rated"), "satisfaction_score": ("{score}分", "{score} / 5"),
    "reporter": ("上报人", "Reporter"), "closed_on_time": ("按期办结", "Closed on time"),
    "closed_late": ("超期办结", "Closed late"),
    # sign-in and access (dashboard/auth.py)
    "signin": ("登录", "Sign in"), "signout": ("退出登录", "Sign out"), "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "signin_failed": ("用户名或密码错误", "Wrong user name or password"),
    "signin_invalid_form": ("表单已失效，请重新输入", "The form expired, please enter again"),
    "signin_limited": ("登录失败次数过多，请稍后再试", "Too many failed sign-ins, please try again later"),
    "token_invalid": ("显示令牌无效或已撤销", "Display token invalid or revoked"),
    "out_of_scope": ("无权查看：不在您的辖区范围内", "Not allowed: outside your area"),  # a refusal says no more
    "forbidden": ("无权查看", "Not allowed"), "role_city": ("市级领导", "City leader"), "role_district": ("区级", "District"),
    "role_street": ("街道", "Street"), "role_grid": ("社区/网格员", "Community/grid staff"),
    "role_wall": ("大屏显示", "Wall display"),
    # daily briefing (日报): briefing/render.py, the tablet's link (layouts/medium.py)
    "brief_pdf": ("日报 PDF", "Briefing PDF"),
    "brief_title": ("{region}城市运行一网统管日报", "{region} City Operations Daily Briefing"),
    "brief_issue": ("{year}年 第{n}期", "{year}, No. {n}"),
    "brief_issuer": ("{city}城市运行管理中心 编", "Compiled by the {city} City Operations Centre"),
    "brief_date": ("{y}年{m}月{d}日", "{y}-{m:02d}-{d:02d}"), "brief_page": ("第 {page} 页 共 {pages} 页", "Page {page} of {pages}"),
    "brief_s_summary": ("一、运行概况", "1. Overview"), "brief_s_kpis": ("二、主要指标", "2. Key figures"),
    "brief_s_loop": ("三、闭环处置与环节时长", "3. Closed loop and stage times"),
    "brief_s_trend": ("四、近7日趋势", "4. The last 7 days"), "brief_s_overdue": ("五、超期事件", "5. Overdue events"),
    "brief_s_recurring": ("六、重复/高发问题", "6. Recurring problems"),
    "brief_s_ranking": ("七、{level}排名（当日五个一综合得分）", "7. {level} ranking (the day's score)"),
    "brief_s_departments": ("七（附）、部门履职（当日案件，部门榜规则）", "7a. Departments (the day's cases)"),
    "brief_s_alerts": ("八、预警信息", "8. Alerts"), "brief_s_cameras": ("九、视频感知与平安建设", "9. Cameras and safety"),
    "brief_summary": ("{day}，{region}共受理事件 {reported} 件，较前一日{vs_prev}，较上周同日{vs_week}；当日事件已办结 {closed} 件，"
                      "按期办结率 {on_time}。截至 {as_of}，全域处置中事件 {open} 件，其中超期 {overdue} 件。",
                      "On {day}, {region} received {reported} events ({vs_prev} on the day before, {vs_week} on the same "
                      "day last week); {closed} of them are closed, {on_time} on time. At {as_of}, {open} events are "
                      "open, {overdue} of them overdue."),
    "brief_up": ("增加 {v}", "up {v}"), "brief_down": ("减少 {v}", "down {v}"), "brief_same": ("持平", "unchanged"),
    "brief_pp": ("{v:.1f}个百分点", "{v:.1f} pp"), "brief_metric": ("指标", "Figure"), "brief_the_day": ("当日", "The day"),
    "brief_prev_day": ("前一日", "Day before"), "brief_vs_prev": ("较前一日", "Change"),
    "brief_week_day": ("上周同日", "Same day last week"), "brief_vs_week": ("较上周同日", "Change"),
    "brief_cohort_closed": ("当日事件已办结", "Of the day's, closed"),
    "brief_cohort_overdue": ("当日事件超期", "Of the day's, overdue now"),
    "brief_stock": ("{name}（全部）", "{name} (all)"), "brief_stock_note": ("截至 {as_of}，不限上报日期", "at {as_of}, any report date"),
    "brief_kpi_note": ("按上报日统计：当日上报的事件截至编制时的办结、超期情况；比率的变化以百分点计。",
                       "By day of report: the day's events, closed or overdue by the time of compiling; rates change in "
                       "percentage points."),
    "brief_overdue_total": ("截至 {as_of}，超期事件共 {n} 件，超期最久的 {k} 件如下：",
                            "At {as_of}, {n} events are overdue; the {k} longest overdue:"),
    "brief_event_id": ("事件编号", "Event"), "brief_span_days": ("跨度(天)", "Span (days)"),
    "brief_last_report": ("最近上报", "Last report"),
    "brief_recurring_total": ("近30日共有问题点位 {clusters} 处，涉及事件 {events} 件，其中处置中 {open} 件。",
                              "{clusters} hot spots in the last 30 days, {events} events in them, {open} still open."),
    "brief_rank_cut": ("共 {n} 个，列出前 {k} 名与后 {k} 名。", "{n} in all: the first {k} and the last {k}."),
    "brief_rank_note": ("综合得分按中屏五个一规则计算（当日上报事件）；超期为截至编制时。",
                        "Score by the tablet's ranking rule over the day's events; overdue at the time of compiling."),
    "brief_overdue_now": ("超期(当前)", "Overdue now"),
    "brief_no_alerts": ("截至 {as_of} 无预警。", "No alerts at {as_of}."),
    "brief_alerts_note": ("截至 {as_of} 仍在预警的事项。", "Alerts still raised at {as_of}."),
    "brief_alert_level": ("等级", "Level"), "brief_alert_text": ("内容", "Alert"),
    "brief_alert_red": ("红色", "Red"), "brief_alert_amber": ("黄色", "Amber"),
    "brief_cameras_line": ("摄像头 {cameras} 路，在线 {online} 路、离线 {offline} 路，在线率 {rate}；无监控网格 {blind} 个，"
                           "未打标签 {untagged} 路，坐标未核实 {unplaced} 路。",
                           "{cameras} cameras, {online} online and {offline} offline ({rate}); {blind} grids without a "
                           "camera, {untagged} cameras untagged, {unplaced} not verified in position."),
    "brief_camera_worst": ("在线率最低的下辖区域：", "Sub-regions with the lowest online rate:"),
    "brief_safety_line": ("平安指数 {index}（{month:%Y年%m月}），群众安全感 {security}{rank}。",
                          "Safety index {index} ({month:%Y-%m}), sense of security {security}{rank}."),
    "brief_safety_rank": ("，{which}{rank}", ", {which}: {rank}"),
    "brief_footer_note": ("本日报由驾驶舱根据已发布的数据自动编制，数字与中屏同源。",
                          "Compiled by the cockpit from the published data; the figures are the tablet's."),
    # supervision (督办) and at-risk (将超期): components/supervision_form.py, etl/transforms/at_risk.py
    "supervision": ("督办", "Supervision"), "supervised": ("督办件", "Supervised"),
    "supervision_level_urge": ("催办", "Urge"), "supervision_level_supervise": ("督办", "Supervise"),
    "supervision_level_listed": ("挂牌督办", "Listed supervision"),
    "supervision_state_pending": ("待送达", "pending"), "supervision_state_delivered": ("已送达", "delivered"),
    "supervision_state_acknowledged": ("已签收", "acknowledged"), "supervision_state_failed": ("送达失败，重试中", "failed, retrying"),
    "supervision_state_unconfigured": ("送达未配置", "delivery not configured"),
    "supervision_new_due": ("新时限", "New deadline"), "supervision_within_hours": ("{h}小时内", "within {h} h"),
    "supervision_note_placeholder": ("督办意见", "Instruction"), "supervision_submit": ("提交督办", "Supervise"),
    "supervision_done": ("已督办，新时限 {due}", "Supervised; new deadline {due}"),
    "supervision_not_allowed": ("仅领导可督办", "Only leaders may supervise"),
    "supervision_bad_request": ("督办内容不完整", "Incomplete supervision"),
    "supervision_on_time_rate": ("督办按期办结率", "Supervised closed on time"),
    "supervised_in_time": ("按期办结", "Closed on time"), "supervised_open": ("未办结", "Still open"),
    "at_risk": ("将超期", "At risk"), "at_risk_events": ("将超期事件", "Events at risk"),
    "no_at_risk": ("暂无将超期事件", "Nothing due soon"),
    "no_supervision": ("暂无督办", "No supervision yet"),
    "brief_s_supervision": ("督办与将超期", "Supervision and cases at risk"),
    "brief_at_risk_line": ("截至 {as_of}，{n} 件事件将在时限内超期", "As of {as_of}, {n} cases are due within hours"), "supervised_late": ("逾期办结", "Closed late"),
    "supervision_summary": ("督办 {n} 件 · 未办结 {open} · 按期办结 {in_time}/{closed}（{rate}）",
                            "{n} supervised · {open} open · closed on time {in_time}/{closed} ({rate})"),
    # the cameras around an event or an alert's spot, 补盲 (components/nearby_cameras.py, issue 28)
    "not_connected": ("未接入", "Not connected"),
    "nearby_title": ("周边监控 · {r}米内", "Cameras within {r} m"),
    "nearby_summary": ("共 {n} 路，在线 {online} 路（由近及远）", "{n} cameras, {online} online (nearest first)"),
    "nearby_none": ("{r}米内没有摄像头", "No camera within {r} m"),
    "nearby_more": ("仅列最近 {k} 路，共 {n} 路", "The nearest {k} of {n} shown"),
    "nearby_blind_grid": ("该网格为无监控网格（盲区）", "This grid has no camera (a blind spot)"),
    "nearby_no_point": ("事件无坐标：按所在网格中心查找", "The event has no point: searched around its grid's centre"),
    "nearby_distance": ("{m:.0f}米", "{m:.0f} m"),
    "compass_N": ("北", "N"), "compass_NE": ("东北", "NE"), "compass_E": ("东", "E"), "compass_SE": ("东南", "SE"),
    "compass_S": ("南", "S"), "compass_SW": ("西南", "SW"), "compass_W": ("西", "W"), "compass_NW": ("西北", "NW"),
    "compass_here": ("原地", "here"),
    "camera_online": ("在线", "online"), "camera_offline": ("离线", "offline"),
    "last_seen": ("最后在线", "Last seen"), "open_video": ("调阅", "Open video"),
    "coord_verified": ("坐标已核实", "Position verified"), "coord_approximate": ("坐标近似", "Position approximate"),
    "coord_missing": ("坐标缺失", "Position missing"),
    "spot_title": ("{name} · 周边监控（{r}米内）", "{name} · cameras within {r} m"),
    "spot_where_grid": ("以 {grid} 的中心查找（今日事件最多的网格）", "Around the centre of {grid} (its grid with the most events)"),
    "spot_where_centre": ("以 {name} 的中心查找", "Around the centre of {name}"),
    "spot_cameras": ("周边监控", "Cameras"),
    "gaps_title": ("补盲 · 看不见的事件（近30日）", "Blind spots · events no camera saw (last 30 days)"),
    "gaps_note": ("近30日事件中，{r}米内没有在线摄像头的事件数；点击区域查看其周边监控", "Events of the last 30 days with no online camera within {r} m; tap a region for its cameras"),
    "gaps_by_street": ("街道（看不见的事件最多）", "Streets with the most unseen events"),
    "gaps_by_grid": ("网格（看不见的事件最多）", "Grids with the most unseen events"),
    "gaps_street": ("街道", "Street"), "gaps_grid": ("网格", "Grid"), "gaps_unseen": ("看不见", "Unseen"),
    "gaps_events": ("事件", "Events"), "gaps_share": ("占比", "Share"), "gaps_camera": ("摄像头", "Camera"),
    "gaps_coord": ("坐标", "Position"), "gaps_grid_events": ("网格近30日事件", "Grid's events (30 days)"),
    "gaps_fixes": ("坐标待治理的摄像头（所在网格事件最多）", "Cameras to re-survey, busiest grids first"),
    "gaps_none": ("近30日事件均有在线摄像头覆盖", "Every event of the last 30 days had an online camera near"),
    "gaps_wall": ("补盲 · 看不见的事件（近30日）", "Blind spots · unseen events (30 days)"),
    "gaps_no_fixes": ("没有坐标近似或缺失的摄像头", "No camera with an approximate or missing position"),
    "tags_title": ("标签治理 · 未打标签摄像头周边的事件（近30日）", "Tags · events near untagged cameras (last 30 days)"),
    "tags_note": ("近30日 {n} 起事件发生在未打标签摄像头{r}米内（占全部 {events} 起的 {share}）",
                  "{n} events of the last 30 days within {r} m of an untagged camera ({share} of {events})"),
    "tags_near": ("未标签摄像头周边事件", "Events near untagged"),
    "tags_cameras": ("周边事件最多的未打标签摄像头", "Untagged cameras with the most events near"),
    "tags_camera_events": ("{r}米内事件", "Events within {r} m"),
    "tags_no_cameras": ("近30日未打标签摄像头周边没有事件", "No event near an untagged camera in the last 30 days"),
}

_language = 0  # index into a LABELS row; set_language changes it for the whole process


def set_language(lang: str) -> None:
    """Make `lang` (one of LANGUAGES) the language of every label() from now on, process-wide."""
    global _language
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r} (known: {', '.join(LANGUAGES)})")
    _language = LANGUAGES.index(lang)


def language() -> str:
    return LANGUAGES[_language]


def label(key: str, **fmt) -> str:
    """The text for key in the current language, its `{fields}` filled from fmt (the key itself if no
    label is defined, so a gap is visible, not fatal; tests/test_labels.py makes it a failing test)."""
    row = LABELS.get(key)
    if row is None:
        return key
    text = row if isinstance(row, str) else row[_language]
    return text.format(**fmt) if fmt else text
