"""What happens to a signalement, for the apps above to follow (notifications): sent in the
transaction that made the change — receivers defer their own work to its commit.

`signalement_changed(sender, signalement, actor, what, message)`: `what` is « status »
(a decision, an undo, an answer, a withdrawal), « question » (details asked) or « comment »."""

from django.dispatch import Signal

signalement_changed = Signal()
