/* layout.c: prints the layouts and constants gpushare declares itself. Built
 * once against NVIDIA's cuda.h and once against gs-cuda.h; the outputs must
 * be identical (tests/shell/test-abi.sh). */
#include <stddef.h>
#include <stdio.h>
#ifdef USE_GS
#include "gs-cuda.h"
#else
#include <cuda.h>
#endif

#define SIZE(t) printf("sizeof %s = %zu\n", #t, sizeof(t))
#define OFF(t, f) printf("offsetof %s.%s = %zu\n", #t, #f, offsetof(t, f))
#define VAL(v) printf("%s = %d\n", #v, (int)(v))

int main(void)
{
	SIZE(CUdevResource);
	OFF(CUdevResource, sm);
	SIZE(CUdevSmResource);
	SIZE(CUlaunchConfig);
	OFF(CUlaunchConfig, hStream);
	OFF(CUlaunchConfig, numAttrs);
	SIZE(CUDA_ARRAY_DESCRIPTOR);
	SIZE(CUDA_ARRAY3D_DESCRIPTOR);
	OFF(CUDA_ARRAY3D_DESCRIPTOR, Flags);
	SIZE(CUmemAllocationProp);
	OFF(CUmemAllocationProp, allocFlags);
	SIZE(CUmemAccessDesc);
	OFF(CUmemAccessDesc, flags);
	VAL(CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
	VAL(CU_MEM_ALLOC_GRANULARITY_MINIMUM);
	VAL(CU_MEM_LOCATION_TYPE_DEVICE);
	VAL(CU_MEM_ALLOCATION_TYPE_PINNED);
	VAL(CUDA_ERROR_ILLEGAL_ADDRESS);
	VAL(CUDA_ERROR_TIMEOUT);
	SIZE(CUuuid);
	SIZE(CUdeviceptr);
	SIZE(CUcheckpointLockArgs);
	OFF(CUcheckpointLockArgs, timeoutMs);
	SIZE(CUcheckpointCheckpointArgs);
	SIZE(CUcheckpointRestoreArgs);
	OFF(CUcheckpointRestoreArgs, gpuPairsCount);
	OFF(CUcheckpointRestoreArgs, reserved1);
	SIZE(CUcheckpointGpuPair);
	OFF(CUcheckpointGpuPair, newUuid);
	SIZE(CUcheckpointUnlockArgs);
	VAL(CU_PROCESS_STATE_CHECKPOINTED);
	VAL(CUDA_ERROR_ILLEGAL_STATE);
	VAL(CUDA_ERROR_NOT_PERMITTED);
	VAL(CUDA_ERROR_OUT_OF_MEMORY);
	VAL(CUDA_ERROR_PEER_ACCESS_UNSUPPORTED);
	VAL(CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED);
	VAL(CUDA_ERROR_PEER_ACCESS_NOT_ENABLED);
	VAL(CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION);
	VAL(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
	VAL(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
	VAL(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR);
	VAL(CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED);
	VAL(CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
	VAL(CU_DEV_RESOURCE_TYPE_SM);
	VAL(CU_AD_FORMAT_FLOAT);
	VAL(CU_AD_FORMAT_HALF);
	VAL(CU_MEMPOOL_ATTR_RELEASE_THRESHOLD);
	VAL(CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT);
	VAL(CU_MEMPOOL_ATTR_USED_MEM_CURRENT);
	VAL(CU_MEMHOSTALLOC_PORTABLE);
	VAL(CU_STREAM_NON_BLOCKING);
	VAL(CU_EVENT_DISABLE_TIMING);
	return 0;
}
