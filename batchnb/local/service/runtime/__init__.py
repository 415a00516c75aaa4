"""The local service's runtime: runs task processes on emulated nodes, moves files to and from Blob storage."""
