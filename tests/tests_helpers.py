"""Helpers shared by tests."""


class CrashAfterSave:
    """Simulates a killed process right after the checkpoint at `step` is written."""

    def __init__(self, step):
        self.step = step

    def __getattr__(self, name):  # every other TrainerCallback event: do nothing
        return lambda *args, **kwargs: None

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt("simulated kill")
