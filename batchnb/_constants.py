"""Constants shared by the client and the embedded local service.

This is the only module both sides import: the local service must stay reachable
by HTTP alone, exactly as Azure Batch is.
"""

BATCH_API_VERSION = "2025-06-01"
BATCH_SCOPE = "https://batch.core.windows.net//.default"
STORAGE_SCOPE = "https://storage.azure.com/.default"

LOCAL_ACCOUNT_NAME = "batchnblocal"
LOCAL_REGION = "local"
# Azurite's well-known development account (documented publicly by Azurite; not a secret). The
# local service runs Azurite with a key generated per state directory instead (local/azurite.py):
# this published key is what tests prove no longer opens it.
AZURITE_ACCOUNT_NAME = "devstoreaccount1"
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AZURITE_VERSION = "3.35.0"

# Admin routes of the local service (not part of the Batch API): fault injection, health.
LOCAL_ADMIN_PREFIX = "/_local"

# Where the node-side utilization sampler appends JSON lines (relative to AZ_BATCH_NODE_SHARED_DIR).
METRICS_FILE_NAME = "batchnb-metrics.jsonl"
# Set to "1" in the environment of every process on an emulated (local) node: the sampler then
# reports that node's own processes instead of the whole machine (nodes share it).
EMULATED_NODE_ENV = "BATCHNB_EMULATED_NODE"

# Bearer tokens of the local service (opt-in, --allow-bearer): HS256 JWTs signed with a key derived
# from the account key under this label, so that only holders of the key can mint them.
LOCAL_BEARER_KEY_LABEL = b"batchnb-local-bearer-v1"
LOCAL_BEARER_AUDIENCE = "https://batch.core.windows.net/"
LOCAL_BEARER_MAX_LIFETIME_S = 24 * 3600
