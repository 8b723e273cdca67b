"""Vocabulary of the source systems: stages, categories, channels, handling levels."""

# The closed loop, in order; each stage has a timestamp column "<stage>_at" in the events table.
STAGES = ("reported", "dispatched", "handled", "verified", "closed")
# Actions of the flow log (event_steps): the stages, plus "reopened" (回访不满意，重新处置) before the final close, and
# the department facts a flow log may record (数字城管): "extended" (延期 approved), "deferred" (缓办 approved),
# "hung" (挂账: parked, not being handled).
STEP_ACTIONS = ("reported", "dispatched", "handled", "verified", "reopened", "closed", "extended", "deferred", "hung")
# The department facts of an event (0/1 each; contract/metrics.py DEPARTMENT_RATES), from columns or flow-log actions.
DEPARTMENT_FACTS = ("extended", "deferred", "hung")
# Levels of the unit acting in a step.
# Durations between consecutive stages, named after the stage they end.
STAGE_SPANS = (("dispatch", "reported", "dispatched"), ("handle", "dispatched", "handled"),
               ("verify", "handled", "verified"), ("close", "verified", "closed"))

CATEGORIES = ("民生服务", "城市管理", "公共安全", "环保巡查", "平安法治", "矛盾纠纷", "群众工作", "区域党建")
CHANNELS = ("12345热线", "随手拍", "网格巡查", "视频AI", "物联感知")
# Level at which an event was settled ("小事不出网格": grid is best).
HANDLING_LEVELS = ("grid", "community", "street", "district")
CAMERA_TAGS = ("治安", "交通", "消防", "环保", "城管", "防汛")
COORD_QUALITY = ("verified", "approximate", "missing")
SAFETY_COMPONENTS = ("security", "fire", "traffic", "production", "disputes")
STAFF_ROLES = ("leader", "worker", "volunteer")
