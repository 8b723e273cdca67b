"""Every user-facing text in one table, so a label changes in one place (and an English UI stays possible)."""

LABELS = {
    "app_title": "城市运行“一网统管”领导驾驶舱",
    "big": "大屏", "medium": "中屏", "small": "小屏",
    "as_of": "数据截至", "stale": "数据已过期", "waiting": "等待数据…", "live": "实时",
    "window_today": "今日", "window_7d": "近7日", "window_30d": "近30日", "window_quarter": "本季度",
    "window_custom": "自定义", "window_week": "本周", "window_month": "本月",
    # KPIs (keys match contract/metrics.py)
    "reported": "事件数", "open": "处置中", "overdue": "超期", "closed": "已办结",
    "on_time_rate": "按期办结率", "same_day_rate": "当日清零率", "grid_settled_rate": "网格内解决率",
    "satisfaction_rate": "满意率", "reopened": "重办", "camera_online_rate": "摄像头在线率",
    "safety_index": "平安指数", "public_security": "群众安全感", "blind_grids": "无监控网格",
    "cameras": "摄像头", "cameras_online": "在线", "iot_devices": "物联感知设备",
    "median_dispatch_min": "派发中位时长", "median_handle_min": "处置中位时长",
    "median_verify_min": "核查中位时长", "median_close_min": "办结中位时长",
    "minutes": "分钟", "events_unit": "件",
    # stages
    "stage_reported": "上报", "stage_dispatched": "派发", "stage_handled": "处置",
    "stage_verified": "核查", "stage_closed": "办结", "stage_reopened": "回访重办",
    # levels
    "level_city": "市", "level_district": "区", "level_street": "街道", "level_community": "社区",
    "level_grid": "网格",
    # panels
    "district_map": "各区态势", "ticker": "最新事件", "by_category": "事件类别", "by_channel": "来源渠道",
    "by_hour": "今日分时事件", "ranking": "区域排名", "alerts": "预警", "loop": "闭环处置",
    "map_measure": "地图指标", "back": "返回", "children": "下辖区域",
    "quarantined": "隔离数据",
    # wall (大屏): carousel pages, panels, alerts, deltas
    "page_overview": "综合态势", "page_events": "事件处置", "page_safety": "平安建设", "page_cameras": "视频感知",
    "alert_count": "预警", "alert_overdue": "超期", "alert_spike": "异常激增", "alert_camera": "视频离线",
    "safety_trend": "平安指数趋势(近12月)", "safety_ranking": "各区平安指数",
    "camera_status": "摄像头状态", "camera_ranking": "各区视频在线", "offline": "离线",
    "vs_yesterday": "较昨日同时", "vs_last_month": "较上月", "map_level_district": "区", "map_level_street": "街道",
    "offline_wait": "与服务器的连接中断，正在自动重连…", "waiting_data": "等待数据发布…",
    "since": "始于", "today_label": "今日", "avg7_label": "近7日均值",
    # phone screen (layouts/small.py)
    "my_queue": "我的待办", "all_area": "全部", "due": "期限", "overdue_by": "已超期", "time_left": "剩余",
    "event_detail": "事件详情", "no_queue": "暂无待办事件", "no_alerts": "暂无预警", "my_map": "辖区地图",
    "event_gone": "未找到该事件的处置记录", "back_to_list": "‹ 返回", "timeline": "处置进度",
    "pending": "待办", "switch_area": "切换区域",
    # tablet region panels (components/region_panels.py)
    "recurring": "重复/高发问题", "recurring_none": "近30日无重复/高发问题", "recurring_clusters": "问题点位",
    "recurring_events": "涉及事件", "recurring_span": "近30日", "category": "类别", "where": "位置",
    "examples": "事件(最新5件)", "days_unit": "天",
    "safety_of_street": "社区、网格无平安指数，显示所属街道", "safety_month": "月份", "safety_components": "分项指数",
    "safety_rank_city": "排名", "safety_rank_district": "各区排名", "safety_rank_street": "区内街道排名",
    "safety_security": "治安", "safety_fire": "消防", "safety_traffic": "交通", "safety_production": "安全生产",
    "safety_disputes": "矛盾纠纷",
    "cameras_untagged": "未打标签", "cameras_unplaced": "坐标未核实", "cameras_coord_approx": "近似",
    "cameras_coord_missing": "缺失",
    # leaders' tablet (layouts/medium.py)
    "rank_title": "五个一排名", "rank_week": "周榜", "rank_month": "月榜", "rank_quarter": "季榜", "score": "综合得分",
    "rank_no": "名次", "name": "名称", "export_csv": "导出 CSV", "export_xlsx": "导出 Excel",
    "escalated_rate": "越级处置率", "not_overdue_rate": "未超期率", "stage": "环节", "reached": "到达",
    "median": "中位时长", "p90": "90%分位", "on_time_by_category": "各类别按期办结率",
    "on_time_by_channel": "各渠道按期办结率", "handling_levels": "处置层级", "overdue_list": "超期事件(最早在前)",
    "no_overdue": "暂无超期事件", "quantile_note": "时长为对数分箱估计，与精确值相差不超过 ±9%；件数与比率为精确值",
    "custom_range": "起止日期", "close": "关闭", "level_handled_grid": "网格", "stage_total": "全流程",
    "stage_dispatch": "派发", "stage_handle": "处置", "stage_verify": "核查", "stage_close": "办结",
    "event_list_more": "共 {n} 件，显示前 {k} 件", "stock_note": "当前，不限时间窗",
    # event timeline (components/timeline_view.py)
    "late_badge": "超时", "reopened_badge": "重新处置", "step_took": "用时", "status": "状态",
    "handling_level": "处置层级", "satisfaction": "满意度", "not_rated": "未评价", "score_unit": "分",
    "reporter": "上报人", "closed_on_time": "按期办结", "closed_late": "超期办结",
    # sign-in and access (dashboard/auth.py)
    "signin": "登录", "signout": "退出登录", "username": "用户名", "password": "密码",
    "signin_failed": "用户名或密码错误", "signin_invalid_form": "表单已失效，请重新输入",
    "signin_limited": "登录失败次数过多，请稍后再试", "token_invalid": "显示令牌无效或已撤销",
    "out_of_scope": "无权查看：不在您的辖区范围内",  # a refusal says no more (which region would map ids to grids)
    "forbidden": "无权查看", "role_city": "市级领导", "role_district": "区级", "role_street": "街道",
    "role_grid": "社区/网格员", "role_wall": "大屏显示",
}


def label(key: str) -> str:
    """The user-facing text for key (the key itself if no label is defined, so a gap is visible, not fatal)."""
    return LABELS.get(key, key)
