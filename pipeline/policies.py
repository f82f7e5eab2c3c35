"""Visibility policies of the sales process (registered in ``crm.visibility`` by
``PipelineConfig.ready``): the process is shared by the whole organization."""

from __future__ import annotations

from crm.visibility import everyone_in_the_organization, policy

policy(
    "pipeline.GlobalStage",
    "pipeline.SalesProcess",
    "pipeline.LocalStage",
    "pipeline.LocalStageEvent",
)(everyone_in_the_organization)
