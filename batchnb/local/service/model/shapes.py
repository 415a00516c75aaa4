"""The JSON shapes of request bodies, checked before anything is stored.

A wrong type in a stored entity would break every later scheduling pass or render, so a body
whose known properties have the wrong JSON type is refused with 400 InvalidPropertyValue.
Unknown properties are accepted and kept out of the way, as in Batch; `None` means absent.

A shape is a JSON type (`str`, `int`, `bool`, `float` = any number), `dict` (any object), a
dict of property shapes (an object), or a one-element list (an array of that shape).
"""

from __future__ import annotations

import re
from typing import Any

from batchnb.local.service.model.errors import bad_value

_NAMES = {str: "a string", int: "an integer", bool: "a boolean", float: "a number", dict: "an object"}


def check_shape(value: Any, shape: Any, path: str) -> Any:
    """Check ``value`` against ``shape``; numbers and booleans sent as JSON strings are converted in
    place (Batch's OData JSON reader takes ``"2"`` for an Int32 and ``"true"`` for a Boolean, and the
    Azure CLI sends every flag-typed number that way). Returns the (converted) value."""
    if value is None:
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            raise bad_value(path, value, "Expected a JSON array.")
        for i, item in enumerate(value):
            if item is None:
                raise bad_value(f"{path}[{i}]", item, "Array items cannot be null.")
            value[i] = check_shape(item, shape[0], f"{path}[{i}]")
        return value
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise bad_value(path, value, "Expected a JSON object.")
        for prop, sub in shape.items():
            if prop in value:
                value[prop] = check_shape(value[prop], sub, f"{path}.{prop}" if path else prop)
        return value
    if isinstance(value, str) and shape in (int, bool, float):
        value = _from_string(value, shape)
    ok = {
        str: lambda v: isinstance(v, str),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        bool: lambda v: isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        dict: lambda v: isinstance(v, dict),
    }[shape](value)
    if not ok:
        raise bad_value(path, value, f"Expected {_NAMES[shape]}.")
    return value


_INT_TEXT = re.compile(r"^[+-]?[0-9]+$")
_NUMBER_TEXT = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def _from_string(text: str, shape: type) -> Any:
    """The number or boolean a JSON string stands for, or the string itself when it stands for none
    (the type check that follows then refuses it with the usual message)."""
    if shape is int and _INT_TEXT.match(text):
        number = int(text)
        # Int32 on the wire: a string out of range is refused like an out-of-range number would be.
        return number if -2**31 <= number < 2**31 else text
    if shape is float and _NUMBER_TEXT.match(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    if shape is bool and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


METADATA = [{"name": str, "value": str}]
ENVIRONMENT = [{"name": str, "value": str}]
PACKAGES = [{"applicationId": str, "version": str}]
USER_IDENTITY = {"username": str, "autoUser": {"scope": str, "elevationLevel": str}}
RESOURCE_FILE = {"autoStorageContainerName": str, "storageContainerUrl": str, "httpUrl": str, "blobPrefix": str,
                 "filePath": str, "fileMode": str, "identityReference": dict}
OUTPUT_FILE = {"filePattern": str,
               "destination": {"container": {"containerUrl": str, "path": str, "identityReference": dict,
                                             "uploadHeaders": [{"name": str, "value": str}]}},
               "uploadOptions": {"uploadCondition": str}}
TASK_CONSTRAINTS = {"maxWallClockTime": str, "retentionTime": str, "maxTaskRetryCount": int}
EXIT_OPTIONS = {"jobAction": str, "dependencyAction": str}
START_TASK = {"commandLine": str, "resourceFiles": [RESOURCE_FILE], "environmentSettings": ENVIRONMENT,
              "userIdentity": USER_IDENTITY, "maxTaskRetryCount": int, "waitForSuccess": bool, "containerSettings": dict}

POOL_CREATE = {
    "id": str, "displayName": str, "vmSize": str,
    "virtualMachineConfiguration": {"imageReference": dict, "nodeAgentSKUId": str, "containerConfiguration": dict},
    "resizeTimeout": str, "targetDedicatedNodes": int, "targetLowPriorityNodes": int, "enableAutoScale": bool,
    "autoScaleFormula": str, "autoScaleEvaluationInterval": str, "enableInterNodeCommunication": bool,
    "networkConfiguration": dict, "startTask": START_TASK, "applicationPackageReferences": PACKAGES,
    "taskSlotsPerNode": int, "taskSchedulingPolicy": {"nodeFillType": str, "jobDefaultOrder": str},
    "userAccounts": [{"name": str, "password": str, "elevationLevel": str,
                      "linuxUserConfiguration": {"uid": int, "gid": int, "sshPrivateKey": str}}],
    "metadata": METADATA,
    "mountConfiguration": [dict], "upgradePolicy": dict, "identity": dict,
}
POOL_UPDATE = {k: v for k, v in POOL_CREATE.items() if k != "id"}
POOL_RESIZE = {"targetDedicatedNodes": int, "targetLowPriorityNodes": int, "resizeTimeout": str,
               "nodeDeallocationOption": str}
NODE_REMOVE = {"nodeList": [str], "resizeTimeout": str, "nodeDeallocationOption": str}
AUTOSCALE = {"autoScaleFormula": str, "autoScaleEvaluationInterval": str}

JOB_CONSTRAINTS = {"maxWallClockTime": str, "maxTaskRetryCount": int}
JOB_SETTINGS = {"priority": int, "allowTaskPreemption": bool, "maxParallelTasks": int,
                "constraints": JOB_CONSTRAINTS, "poolInfo": {"poolId": str, "autoPoolSpecification": dict},
                "onAllTasksComplete": str, "onTaskFailure": str, "metadata": METADATA, "networkConfiguration": dict}
JOB_CREATE = {
    **JOB_SETTINGS, "id": str, "displayName": str, "usesTaskDependencies": bool,
    "commonEnvironmentSettings": ENVIRONMENT,
    "jobManagerTask": {"id": str, "commandLine": str, "resourceFiles": [RESOURCE_FILE], "outputFiles": [OUTPUT_FILE],
                       "environmentSettings": ENVIRONMENT, "constraints": TASK_CONSTRAINTS, "requiredSlots": int,
                       "killJobOnCompletion": bool, "userIdentity": USER_IDENTITY, "runExclusive": bool,
                       "allowLowPriorityNode": bool, "displayName": str},
    "jobPreparationTask": {"id": str, "commandLine": str, "resourceFiles": [RESOURCE_FILE],
                           "environmentSettings": ENVIRONMENT, "constraints": TASK_CONSTRAINTS,
                           "waitForSuccess": bool, "userIdentity": USER_IDENTITY,
                           "rerunOnNodeRebootAfterSuccess": bool},
    "jobReleaseTask": {"id": str, "commandLine": str, "resourceFiles": [RESOURCE_FILE],
                       "environmentSettings": ENVIRONMENT, "maxWallClockTime": str, "retentionTime": str,
                       "userIdentity": USER_IDENTITY},
}
JOB_DISABLE = {"disableTasks": str}
JOB_TERMINATE = {"terminateReason": str}

TASK_CREATE = {
    "id": str, "displayName": str, "commandLine": str, "constraints": TASK_CONSTRAINTS, "requiredSlots": int,
    "exitConditions": {"exitCodes": [{"code": int, "exitOptions": EXIT_OPTIONS}],
                       "exitCodeRanges": [{"start": int, "end": int, "exitOptions": EXIT_OPTIONS}],
                       "preProcessingError": EXIT_OPTIONS, "fileUploadError": EXIT_OPTIONS, "default": EXIT_OPTIONS},
    "resourceFiles": [RESOURCE_FILE], "outputFiles": [OUTPUT_FILE], "environmentSettings": ENVIRONMENT,
    "affinityInfo": {"affinityId": str}, "userIdentity": USER_IDENTITY,
    "multiInstanceSettings": {"numberOfInstances": int, "coordinationCommandLine": str,
                              "commonResourceFiles": [RESOURCE_FILE]},
    "dependsOn": {"taskIds": [str], "taskIdRanges": [{"start": int, "end": int}]},
    "applicationPackageReferences": PACKAGES, "containerSettings": dict,
}
TASK_UPDATE = {"constraints": TASK_CONSTRAINTS}
