"""The component's entry point: the `renderer` interface of `berth:plugin@0.4.0`
(`wit/renderer.wit`), exported with the bindings componentize-py generates from that file.

This is the only module that touches the bindings. It turns the WIT records into plain
dicts, calls `portal.render`, and turns the outcome back into the WIT's `render-output`
or `render-error`. No Berth SDK is involved: the WIT is the whole contract.
"""

import dataclasses

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import renderer as wit

import portal


class Renderer(exports.Renderer):
    def describe(self) -> wit.PluginDescription:
        return wit.PluginDescription(**portal.describe())

    def render(self, input: wit.RenderInput) -> wit.RenderOutput:
        if input.task is not None:  # backups, restores and migrations are other components'
            raise Err(wit.RenderError_Unsupported("berth-portal-py renders no task Jobs"))
        try:
            objects = portal.render(input.harbor_version, input.spec_json, dataclasses.asdict(input.topology))
        except portal.InvalidSpec as e:
            raise Err(wit.RenderError_InvalidSpec(wit.InvalidSpec(field=e.field, message=e.message)))
        except portal.Unsupported as e:
            raise Err(wit.RenderError_Unsupported(e.message))
        except portal.Internal as e:
            raise Err(wit.RenderError_Internal(e.message))
        except Exception as e:  # a bug here: say so, rather than trap
            raise Err(wit.RenderError_Internal(f"{type(e).__name__}: {e}"))
        return wit.RenderOutput(objects=objects, secrets=[], conditions=[])
