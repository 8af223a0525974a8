"""`bertft audit`: which of the user's labels look wrong.

Every labelled text is scored by a model that never saw it (K folds, each trained as `bertft
train` trains), and confident learning (cleanlab's `find_label_issues`) ranks the texts whose
given label their out-of-fold scores contradict. Folds already trained are kept: an interrupted
audit resumes where it stopped.
"""

from bertft.audit.run import AuditResult, audit

__all__ = ["AuditResult", "audit"]
