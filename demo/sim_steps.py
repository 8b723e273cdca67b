"""The demo's flow log (event_steps, 流转记录): which unit, at which level and by whom each stage of an
event was done. Derived from the event's planned timeline (demo/simulator.py), so a step and its event
row always agree; built for whole frames at once (numpy selects, no per-event loop)."""

from __future__ import annotations

import numpy as np
import pandas as pd

STEP_COLUMNS = ["event_id", "step_no", "action", "at", "level", "unit", "actor", "note"]
# step_no of each action; "closed" is 6 when the event was reopened (5 is then "reopened").
STEP_NO = {"reported": 1, "dispatched": 2, "handled": 3, "verified": 4, "reopened": 5, "closed": 5}
# The district office that handles an event of a category when it goes up to the district.
DEPARTMENTS = {"民生服务": "住建局", "城市管理": "城管局", "公共安全": "应急管理局", "环保巡查": "生态环境局",
               "平安法治": "公安分局", "矛盾纠纷": "司法局", "群众工作": "信访局", "区域党建": "组织部"}
# Who reports by channel: (level, unit suffix after the city's name or "@grid", actor, note prefix).
REPORTERS = {"12345热线": ("city", "12345热线", "12345热线坐席", "市民来电："),
             "随手拍": ("city", "城运中心", "随手拍平台", "群众随手拍："),
             "网格巡查": ("grid", "@grid", "@worker", "巡查发现："),
             "视频AI": ("city", "城运中心", "视频AI识别", "智能识别："),
             "物联感知": ("city", "城运中心", "物联感知告警", "设备告警：")}


def grid_staff_names(staff: pd.DataFrame) -> pd.DataFrame:
    """Per grid code: the grid worker's and the grid leader's names (columns worker, leader)."""
    s = staff[staff["role"].isin(["worker", "leader"])]
    return s.pivot_table(index="grid_code", columns="role", values="name", aggfunc="first")


def flow_steps(ev: pd.DataFrame, plan: pd.DataFrame, emit: dict[str, np.ndarray], names: pd.Series,
               city_name: str, staff: pd.DataFrame, updated_at=None) -> pd.DataFrame:
    """The step rows of `ev` (event_id, grid_code, category, channel, title) for the actions whose
    `emit` mask is true, at the times of `plan` (planned_timeline). `names` maps region code -> name,
    `staff` is grid_staff_names(); `updated_at` a time, or None: each step's own time. Rows in event, then step order."""
    code = ev["grid_code"].astype(str)

    def name(n: int) -> np.ndarray:
        return code.str[:n].map(names).fillna(code.str[:n]).to_numpy(object)

    dist, street, comm, grid = name(6), name(9), name(12), name(15)
    worker = code.map(staff["worker"]).fillna("网格员").to_numpy(object)
    leader = code.map(staff["leader"]).fillna("网格长").to_numpy(object)
    lvl = plan["handling_level"].to_numpy(object)
    is_grid, is_comm, is_street = lvl == "grid", lvl == "community", lvl == "street"
    below_street = is_grid | is_comm
    dept = ev["category"].map(DEPARTMENTS).fillna("职能部门").to_numpy(object)
    handler = np.select([is_grid, is_comm, is_street], [grid, comm + "居委会", street + "办事处"], dist + dept)
    d_level = np.select([below_street, is_street], ["street", "district"], "city")
    d_unit = np.select([below_street, is_street], [street + "网格中心", dist + "城运中心"], city_name + "城运中心")
    d_actor = np.select([below_street, is_street], ["网格中心派单员", "区城运中心值班员"], "市城运中心值班员")

    ch = ev["channel"].to_numpy(object)
    rep = {k: np.array([REPORTERS.get(c, REPORTERS["12345热线"])[i] for c in ch], dtype=object) if len(ch) else
           np.array([], dtype=object) for i, k in enumerate(("level", "unit", "actor", "note"))}
    rep_unit = np.where(rep["unit"] == "@grid", grid, city_name + rep["unit"])
    rep_actor = np.where(rep["actor"] == "@worker", worker, rep["actor"])
    title = ev["title"].fillna("").to_numpy(object)
    sat = plan["satisfaction"]
    close_note = np.where(sat.notna().to_numpy(), "办结，回访满意度" + sat.astype("string").fillna("").to_numpy(object) + "分",
                          "办结")
    reopened = (plan["reopen_at"].notna()).to_numpy()
    n = len(ev)
    actions = {
        "reported": (ev["reported_at"], rep["level"], rep_unit, rep_actor, rep["note"] + title),
        "dispatched": (plan["dispatched_at"], d_level, d_unit, d_actor, "派发至" + handler),
        "handled": (plan["handled_at"], lvl, handler,
                    np.select([is_grid, is_comm, is_street], [worker, "社区工作人员", "街道职能科室"], "区职能部门"),
                    np.where(is_grid, "现场处置完毕", "处置完毕")),
        "verified": (plan["verified_at"], np.where(is_grid, "grid", d_level), np.where(is_grid, grid, d_unit),
                     np.where(is_grid, leader, "核查员"), np.where(is_grid, "网格长核查通过", "核查通过")),
        "reopened": (plan["reopen_at"], "city", city_name + "12345热线", "回访专员", "回访不满意，重新处置"),
        "closed": (plan["closed_at"], d_level, d_unit, d_actor, close_note),
    }
    def column(v) -> np.ndarray:
        if isinstance(v, pd.Series):
            return v.to_numpy()
        a = np.asarray(v, dtype=object)
        return np.broadcast_to(a, (n,)) if a.ndim == 0 else a

    frames = []
    for action, values in actions.items():
        m = np.asarray(emit.get(action, np.zeros(n, bool)), bool)
        if m.any():
            at, level, unit, actor, note = (column(v)[m] for v in values)
            step_no = STEP_NO[action] + ((action == "closed") & reopened[m])
            frames.append(pd.DataFrame({"pos": np.flatnonzero(m), "event_id": column(ev["event_id"])[m],
                                        "step_no": step_no, "action": action, "at": pd.to_datetime(at),
                                        "level": level, "unit": unit, "actor": actor, "note": note}))
    if not frames:
        return pd.DataFrame(columns=[*STEP_COLUMNS, "updated_at"])
    out = pd.concat(frames, ignore_index=True).sort_values(["pos", "step_no"], kind="stable")
    out["updated_at"] = out["at"] if updated_at is None else updated_at
    return out[[*STEP_COLUMNS, "updated_at"]].reset_index(drop=True)
