/* gs-cuda.h: the part of the CUDA driver API's C ABI gpushare uses, declared
 * from NVIDIA's documented interface (cuda.h, CUDA 12/13) so that gpushare
 * builds where only the driver is installed. Layouts are checked against the
 * toolkit's header by tests/abi-check.c where a toolkit exists. */
#ifndef GS_CUDA_H
#define GS_CUDA_H

#include <stddef.h>

typedef int CUresult;
enum {
	CUDA_SUCCESS = 0,
	CUDA_ERROR_INVALID_VALUE = 1,
	CUDA_ERROR_OUT_OF_MEMORY = 2,
	CUDA_ERROR_NOT_INITIALIZED = 3,
	CUDA_ERROR_DEINITIALIZED = 4,
	CUDA_ERROR_NO_DEVICE = 100,
	CUDA_ERROR_INVALID_DEVICE = 101,
	CUDA_ERROR_INVALID_IMAGE = 200,
	CUDA_ERROR_INVALID_CONTEXT = 201,
	CUDA_ERROR_PEER_ACCESS_UNSUPPORTED = 217,
	CUDA_ERROR_INVALID_HANDLE = 400,
	CUDA_ERROR_ILLEGAL_STATE = 401,
	CUDA_ERROR_NOT_FOUND = 500,
	CUDA_ERROR_NOT_READY = 600,
	CUDA_ERROR_ILLEGAL_ADDRESS = 700,
	CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
	CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED = 704,
	CUDA_ERROR_PEER_ACCESS_NOT_ENABLED = 705,
	CUDA_ERROR_NOT_PERMITTED = 800,
	CUDA_ERROR_NOT_SUPPORTED = 801,
	CUDA_ERROR_MPS_SERVER_NOT_READY = 807,
	CUDA_ERROR_MPS_CLIENT_TERMINATED = 810,
	CUDA_ERROR_INVALID_RESOURCE_TYPE = 914,
	CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION = 915,
	CUDA_ERROR_TIMEOUT = 909,
	CUDA_ERROR_UNKNOWN = 999,
};

typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef unsigned long long cuuint64_t;
typedef unsigned long long CUmemGenericAllocationHandle;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef void (*CUhostFn)(void *data);
typedef struct CUevent_st *CUevent;
typedef struct CUgreenCtx_st *CUgreenCtx;
typedef struct CUgraphExec_st *CUgraphExec;
typedef struct CUdevResourceDesc_st *CUdevResourceDesc;
typedef struct CUmemPoolHandle_st *CUmemoryPool;
typedef struct CUarray_st *CUarray;
typedef struct CUmipmappedArray_st *CUmipmappedArray;

typedef struct CUuuid_st {
	char bytes[16];
} CUuuid;

/* The driver's launch-descriptor callback table (cuGetExportTable with this
 * id): entry 0 is the table's size in bytes (0x60 on driver 580), entry 3
 * subscribes a callback (int (*)(uint32_t *handle, cb, void *userdata)),
 * entry 6 enables it for a domain and id (int (*)(uint32_t on, uint32_t
 * handle, int domain, int cbid)); in domain 0xb (id 1: before the launch
 * descriptor is uploaded) the callback may rewrite the descriptor, a TPC
 * mask included, which overrides a green context's SMs (h200-findings.md;
 * bench/results/h200-tpcmask-probe-2026-12-03.txt). */
#define GS_CU_LAUNCH_CB_TABLE_ID                                                                                 \
	{ { (char)0x2c, (char)0x8e, (char)0x0a, (char)0xd8, (char)0x07, (char)0x10, (char)0xab, (char)0x4e,       \
	    (char)0x90, (char)0xdd, (char)0x54, (char)0x71, (char)0x9f, (char)0xe5, (char)0xf7, (char)0x4b } }
#define GS_CU_LAUNCH_CB_SUBSCRIBE 3
#define GS_CU_LAUNCH_CB_ENABLE 6
#define GS_CU_LAUNCH_CB_DOMAIN 0xb
typedef void (*gs_cu_launch_cb)(void *userdata, int domain, int cbid, const void *params);

enum {
	CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
	CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10,
	CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
	CU_DEVICE_ATTRIBUTE_PCI_BUS_ID = 33,
	CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38,
	CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR = 39,
	CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING = 41,
	CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
	CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
	CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR = 81,
	CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR = 82,
	CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED = 115,
	CU_DEVICE_ATTRIBUTE_MAX = 150,
};

enum {
	CU_GET_PROC_ADDRESS_DEFAULT = 0,
	CU_GET_PROC_ADDRESS_LEGACY_STREAM = 1 << 0,
	CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM = 1 << 1,
};
typedef enum {
	CU_GET_PROC_ADDRESS_SUCCESS = 0,
	CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND = 1,
	CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT = 2,
} CUdriverProcAddressQueryResult;

/* Green contexts (CUDA 12.4+). */
enum { CU_DEV_RESOURCE_TYPE_INVALID = 0, CU_DEV_RESOURCE_TYPE_SM = 1 };
typedef struct CUdevSmResource_st {
	unsigned int smCount;
	unsigned int minSmPartitionSize;
	unsigned int smCoscheduledAlignment;
} CUdevSmResource;
typedef struct CUdevResource_st {
	int type;
	unsigned char _internal_padding[92];
	union {
		CUdevSmResource sm;
		unsigned char _oversize[48];
	};
} CUdevResource;
#define CU_GREEN_CTX_DEFAULT_STREAM 0x1
#define CU_MEMHOSTALLOC_PORTABLE 0x01
#define CU_STREAM_NON_BLOCKING 0x1
#define CU_EVENT_DISABLE_TIMING 0x2

typedef struct CUlaunchConfig_st {
	unsigned int gridDimX, gridDimY, gridDimZ;
	unsigned int blockDimX, blockDimY, blockDimZ;
	unsigned int sharedMemBytes;
	CUstream hStream;
	void *attrs;
	unsigned int numAttrs;
} CUlaunchConfig;

typedef struct CUDA_ARRAY_DESCRIPTOR_st {
	size_t Width, Height;
	int Format;
	unsigned int NumChannels;
} CUDA_ARRAY_DESCRIPTOR;

typedef struct CUDA_ARRAY3D_DESCRIPTOR_st {
	size_t Width, Height, Depth;
	int Format;
	unsigned int NumChannels;
	unsigned int Flags;
} CUDA_ARRAY3D_DESCRIPTOR;

/* CUarray_format values and their element sizes */
enum {
	CU_AD_FORMAT_UNSIGNED_INT8 = 0x01, CU_AD_FORMAT_UNSIGNED_INT16 = 0x02,
	CU_AD_FORMAT_UNSIGNED_INT32 = 0x03, CU_AD_FORMAT_SIGNED_INT8 = 0x08,
	CU_AD_FORMAT_SIGNED_INT16 = 0x09, CU_AD_FORMAT_SIGNED_INT32 = 0x0a,
	CU_AD_FORMAT_HALF = 0x10, CU_AD_FORMAT_FLOAT = 0x20,
};

/* CUmemPool_attribute values gpushare reads */
enum {
	CU_MEMPOOL_ATTR_RELEASE_THRESHOLD = 4,
	CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT = 5,
	CU_MEMPOOL_ATTR_USED_MEM_CURRENT = 7,
};

typedef struct CUmemLocation_st {
	int type;
	int id;
} CUmemLocation;
typedef struct CUmemAllocationProp_st {
	int type;
	int requestedHandleTypes;
	CUmemLocation location;
	void *win32HandleMetaData;
	struct {
		unsigned char compressionType;
		unsigned char gpuDirectRDMACapable;
		unsigned short usage;
		unsigned char reserved[4];
	} allocFlags;
} CUmemAllocationProp;

/* Virtual memory management (CUDA 10.2+): a range of addresses reserved,
 * physical memory made (cuMemCreate) and mapped into it, access granted per
 * device. The interposer backs allocations with it to move them (swap.c). */
typedef enum CUmemAllocationType_enum { CU_MEM_ALLOCATION_TYPE_PINNED = 0x1 } CUmemAllocationType;
typedef enum CUmemLocationType_enum { CU_MEM_LOCATION_TYPE_DEVICE = 0x1 } CUmemLocationType;
typedef enum CUmemAccess_flags_enum {
	CU_MEM_ACCESS_FLAGS_PROT_NONE = 0x0,
	CU_MEM_ACCESS_FLAGS_PROT_READ = 0x1,
	CU_MEM_ACCESS_FLAGS_PROT_READWRITE = 0x3,
} CUmemAccess_flags;
typedef enum CUmemAllocationGranularity_flags_enum {
	CU_MEM_ALLOC_GRANULARITY_MINIMUM = 0x0,
	CU_MEM_ALLOC_GRANULARITY_RECOMMENDED = 0x1,
} CUmemAllocationGranularity_flags;
typedef struct CUmemAccessDesc_st {
	CUmemLocation location;
	CUmemAccess_flags flags;
} CUmemAccessDesc;

/* The checkpoint API (another process's memory to host and back: suspend
 * and resume; migrate restores it onto another GPU through gpuPairs, each
 * pair a GPU it was checkpointed on and the one to restore it onto). */
typedef enum CUprocessState_enum {
	CU_PROCESS_STATE_RUNNING = 0,
	CU_PROCESS_STATE_LOCKED,
	CU_PROCESS_STATE_CHECKPOINTED,
	CU_PROCESS_STATE_FAILED,
} CUprocessState;
typedef struct CUcheckpointLockArgs_st {
	unsigned int timeoutMs;
	unsigned int reserved0;
	unsigned long long reserved1[7];
} CUcheckpointLockArgs;
typedef struct CUcheckpointCheckpointArgs_st {
	unsigned long long reserved[8];
} CUcheckpointCheckpointArgs;
typedef struct CUcheckpointGpuPair_st {
	CUuuid oldUuid;
	CUuuid newUuid;
} CUcheckpointGpuPair;
typedef struct CUcheckpointRestoreArgs_st {
	CUcheckpointGpuPair *gpuPairs;
	unsigned int gpuPairsCount;
	char reserved[52 - sizeof(void *)];
	unsigned long long reserved1;
} CUcheckpointRestoreArgs;
typedef struct CUcheckpointUnlockArgs_st {
	unsigned long long reserved[8];
} CUcheckpointUnlockArgs;
CUresult cuCheckpointProcessGetState(int pid, CUprocessState *state);
CUresult cuCheckpointProcessLock(int pid, CUcheckpointLockArgs *args);
CUresult cuCheckpointProcessCheckpoint(int pid, CUcheckpointCheckpointArgs *args);
CUresult cuCheckpointProcessRestore(int pid, CUcheckpointRestoreArgs *args);
CUresult cuCheckpointProcessUnlock(int pid, CUcheckpointUnlockArgs *args);

/* Every driver function gpushare knows, once: the simulated driver
 * implements each, the interposer wraps each. CU(base name as
 * cuGetProcAddress is asked for it, exported symbol, CUDA version it appeared
 * in, parameters, arguments); CU_PTDS the same for per-thread-default-stream
 * variants. */
#define GS_CUDA_API(CU, CU_PTDS) \
	CU(cuInit, cuInit, 2000, (unsigned int flags), (flags)) \
	CU(cuDriverGetVersion, cuDriverGetVersion, 2020, (int *version), (version)) \
	CU(cuDeviceGet, cuDeviceGet, 2000, (CUdevice *device, int ordinal), (device, ordinal)) \
	CU(cuDeviceGetCount, cuDeviceGetCount, 2000, (int *count), (count)) \
	CU(cuDeviceGetName, cuDeviceGetName, 2000, (char *name, int len, CUdevice dev), (name, len, dev)) \
	CU(cuDeviceGetUuid, cuDeviceGetUuid, 9020, (CUuuid *uuid, CUdevice dev), (uuid, dev)) \
	CU(cuDeviceGetUuid, cuDeviceGetUuid_v2, 11040, (CUuuid *uuid, CUdevice dev), (uuid, dev)) \
	CU(cuDeviceTotalMem, cuDeviceTotalMem_v2, 3020, (size_t *bytes, CUdevice dev), (bytes, dev)) \
	CU(cuDeviceGetAttribute, cuDeviceGetAttribute, 2000, (int *pi, int attrib, CUdevice dev), (pi, attrib, dev)) \
	CU(cuDeviceGetPCIBusId, cuDeviceGetPCIBusId, 4010, (char *bus, int len, CUdevice dev), (bus, len, dev)) \
	CU(cuDevicePrimaryCtxRetain, cuDevicePrimaryCtxRetain, 7000, (CUcontext *pctx, CUdevice dev), (pctx, dev)) \
	CU(cuDevicePrimaryCtxRelease, cuDevicePrimaryCtxRelease_v2, 11000, (CUdevice dev), (dev)) \
	CU(cuDevicePrimaryCtxReset, cuDevicePrimaryCtxReset_v2, 11000, (CUdevice dev), (dev)) \
	CU(cuDevicePrimaryCtxGetState, cuDevicePrimaryCtxGetState, 7000, (CUdevice dev, unsigned int *flags, int *active), (dev, flags, active)) \
	CU(cuDevicePrimaryCtxSetFlags, cuDevicePrimaryCtxSetFlags_v2, 11000, (CUdevice dev, unsigned int flags), (dev, flags)) \
	CU(cuCtxCreate, cuCtxCreate_v2, 3020, (CUcontext *pctx, unsigned int flags, CUdevice dev), (pctx, flags, dev)) \
	CU(cuCtxCreate, cuCtxCreate_v3, 11040, (CUcontext *pctx, void *affinity, int n, unsigned int flags, CUdevice dev), (pctx, affinity, n, flags, dev)) \
	CU(cuCtxCreate, cuCtxCreate_v4, 12050, (CUcontext *pctx, void *params, unsigned int flags, CUdevice dev), (pctx, params, flags, dev)) \
	CU(cuCtxDestroy, cuCtxDestroy_v2, 4000, (CUcontext ctx), (ctx)) \
	CU(cuCtxSetCurrent, cuCtxSetCurrent, 4000, (CUcontext ctx), (ctx)) \
	CU(cuCtxGetCurrent, cuCtxGetCurrent, 4000, (CUcontext *pctx), (pctx)) \
	CU(cuCtxPushCurrent, cuCtxPushCurrent_v2, 4000, (CUcontext ctx), (ctx)) \
	CU(cuCtxPopCurrent, cuCtxPopCurrent_v2, 4000, (CUcontext *pctx), (pctx)) \
	CU(cuCtxGetDevice, cuCtxGetDevice, 2000, (CUdevice *dev), (dev)) \
	CU(cuCtxGetDevice, cuCtxGetDevice_v2, 13000, (CUdevice *dev, CUcontext ctx), (dev, ctx)) \
	CU(cuCtxSynchronize, cuCtxSynchronize, 2000, (void), ()) \
	CU(cuCtxSynchronize, cuCtxSynchronize_v2, 13000, (CUcontext ctx), (ctx)) \
	CU(cuDeviceGetDevResource, cuDeviceGetDevResource, 12040, (CUdevice dev, CUdevResource *res, int type), (dev, res, type)) \
	CU(cuCtxGetDevResource, cuCtxGetDevResource, 12040, (CUcontext ctx, CUdevResource *res, int type), (ctx, res, type)) \
	CU(cuGreenCtxGetDevResource, cuGreenCtxGetDevResource, 12040, (CUgreenCtx g, CUdevResource *res, int type), (g, res, type)) \
	CU(cuDevSmResourceSplitByCount, cuDevSmResourceSplitByCount, 12040, (CUdevResource *result, unsigned int *nbGroups, const CUdevResource *input, CUdevResource *remaining, unsigned int useFlags, unsigned int minCount), (result, nbGroups, input, remaining, useFlags, minCount)) \
	CU(cuDevResourceGenerateDesc, cuDevResourceGenerateDesc, 12040, (CUdevResourceDesc *desc, CUdevResource *res, unsigned int n), (desc, res, n)) \
	CU(cuGreenCtxCreate, cuGreenCtxCreate, 12040, (CUgreenCtx *g, CUdevResourceDesc desc, CUdevice dev, unsigned int flags), (g, desc, dev, flags)) \
	CU(cuGreenCtxDestroy, cuGreenCtxDestroy, 12040, (CUgreenCtx g), (g)) \
	CU(cuCtxFromGreenCtx, cuCtxFromGreenCtx, 12040, (CUcontext *pctx, CUgreenCtx g), (pctx, g)) \
	CU(cuMemGetInfo, cuMemGetInfo_v2, 3020, (size_t *free, size_t *total), (free, total)) \
	CU(cuMemAlloc, cuMemAlloc_v2, 3020, (CUdeviceptr *dptr, size_t bytes), (dptr, bytes)) \
	CU(cuMemAllocPitch, cuMemAllocPitch_v2, 3020, (CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height, unsigned int elem), (dptr, pitch, width, height, elem)) \
	CU(cuMemAllocManaged, cuMemAllocManaged, 6000, (CUdeviceptr *dptr, size_t bytes, unsigned int flags), (dptr, bytes, flags)) \
	CU(cuMemFree, cuMemFree_v2, 3020, (CUdeviceptr dptr), (dptr)) \
	CU(cuMemAllocAsync, cuMemAllocAsync, 11020, (CUdeviceptr *dptr, size_t bytes, CUstream s), (dptr, bytes, s)) \
	CU_PTDS(cuMemAllocAsync, cuMemAllocAsync_ptsz, 11020, (CUdeviceptr *dptr, size_t bytes, CUstream s), (dptr, bytes, s)) \
	CU(cuMemFreeAsync, cuMemFreeAsync, 11020, (CUdeviceptr dptr, CUstream s), (dptr, s)) \
	CU_PTDS(cuMemFreeAsync, cuMemFreeAsync_ptsz, 11020, (CUdeviceptr dptr, CUstream s), (dptr, s)) \
	CU(cuMemAllocFromPoolAsync, cuMemAllocFromPoolAsync, 11020, (CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool, CUstream s), (dptr, bytes, pool, s)) \
	CU_PTDS(cuMemAllocFromPoolAsync, cuMemAllocFromPoolAsync_ptsz, 11020, (CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool, CUstream s), (dptr, bytes, pool, s)) \
	CU(cuMemPoolTrimTo, cuMemPoolTrimTo, 11020, (CUmemoryPool pool, size_t keep), (pool, keep)) \
	CU(cuMemPoolGetAttribute, cuMemPoolGetAttribute, 11020, (CUmemoryPool pool, int attr, void *value), (pool, attr, value)) \
	CU(cuMemPoolCreate, cuMemPoolCreate, 11020, (CUmemoryPool *pool, const void *props), (pool, props)) \
	CU(cuMemPoolDestroy, cuMemPoolDestroy, 11020, (CUmemoryPool pool), (pool)) \
	CU(cuDeviceGetDefaultMemPool, cuDeviceGetDefaultMemPool, 11020, (CUmemoryPool *pool, CUdevice dev), (pool, dev)) \
	CU(cuDeviceGetMemPool, cuDeviceGetMemPool, 11020, (CUmemoryPool *pool, CUdevice dev), (pool, dev)) \
	CU(cuMemCreate, cuMemCreate, 10020, (CUmemGenericAllocationHandle *h, size_t size, const CUmemAllocationProp *prop, unsigned long long flags), (h, size, prop, flags)) \
	CU(cuMemRelease, cuMemRelease, 10020, (CUmemGenericAllocationHandle h), (h)) \
	CU(cuMemAddressReserve, cuMemAddressReserve, 10020, (CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr, unsigned long long flags), (ptr, size, alignment, addr, flags)) \
	CU(cuMemAddressFree, cuMemAddressFree, 10020, (CUdeviceptr ptr, size_t size), (ptr, size)) \
	CU(cuMemMap, cuMemMap, 10020, (CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle h, unsigned long long flags), (ptr, size, offset, h, flags)) \
	CU(cuMemUnmap, cuMemUnmap, 10020, (CUdeviceptr ptr, size_t size), (ptr, size)) \
	CU(cuMemSetAccess, cuMemSetAccess, 10020, (CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count), (ptr, size, desc, count)) \
	CU(cuMemGetAllocationGranularity, cuMemGetAllocationGranularity, 10020, (size_t *granularity, const CUmemAllocationProp *prop, CUmemAllocationGranularity_flags option), (granularity, prop, option)) \
	CU(cuArrayCreate, cuArrayCreate_v2, 3020, (CUarray *a, const CUDA_ARRAY_DESCRIPTOR *d), (a, d)) \
	CU(cuArray3DCreate, cuArray3DCreate_v2, 3020, (CUarray *a, const CUDA_ARRAY3D_DESCRIPTOR *d), (a, d)) \
	CU(cuArrayDestroy, cuArrayDestroy, 2000, (CUarray a), (a)) \
	CU(cuMipmappedArrayCreate, cuMipmappedArrayCreate, 5000, (CUmipmappedArray *a, const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned int levels), (a, d, levels)) \
	CU(cuMipmappedArrayDestroy, cuMipmappedArrayDestroy, 5000, (CUmipmappedArray a), (a)) \
	CU(cuMemcpyHtoD, cuMemcpyHtoD_v2, 3020, (CUdeviceptr dst, const void *src, size_t n), (dst, src, n)) \
	CU_PTDS(cuMemcpyHtoD, cuMemcpyHtoD_v2_ptds, 7000, (CUdeviceptr dst, const void *src, size_t n), (dst, src, n)) \
	CU(cuMemcpyDtoH, cuMemcpyDtoH_v2, 3020, (void *dst, CUdeviceptr src, size_t n), (dst, src, n)) \
	CU_PTDS(cuMemcpyDtoH, cuMemcpyDtoH_v2_ptds, 7000, (void *dst, CUdeviceptr src, size_t n), (dst, src, n)) \
	CU(cuMemcpyHtoDAsync, cuMemcpyHtoDAsync_v2, 3020, (CUdeviceptr dst, const void *src, size_t n, CUstream s), (dst, src, n, s)) \
	CU_PTDS(cuMemcpyHtoDAsync, cuMemcpyHtoDAsync_v2_ptsz, 7000, (CUdeviceptr dst, const void *src, size_t n, CUstream s), (dst, src, n, s)) \
	CU(cuMemcpyDtoHAsync, cuMemcpyDtoHAsync_v2, 3020, (void *dst, CUdeviceptr src, size_t n, CUstream s), (dst, src, n, s)) \
	CU_PTDS(cuMemcpyDtoHAsync, cuMemcpyDtoHAsync_v2_ptsz, 7000, (void *dst, CUdeviceptr src, size_t n, CUstream s), (dst, src, n, s)) \
	CU(cuMemcpy, cuMemcpy, 4000, (CUdeviceptr dst, CUdeviceptr src, size_t n), (dst, src, n)) \
	CU_PTDS(cuMemcpy, cuMemcpy_ptds, 7000, (CUdeviceptr dst, CUdeviceptr src, size_t n), (dst, src, n)) \
	CU(cuMemcpyAsync, cuMemcpyAsync, 4000, (CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s), (dst, src, n, s)) \
	CU_PTDS(cuMemcpyAsync, cuMemcpyAsync_ptsz, 7000, (CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s), (dst, src, n, s)) \
	CU(cuMemcpyDtoD, cuMemcpyDtoD_v2, 3020, (CUdeviceptr dst, CUdeviceptr src, size_t n), (dst, src, n)) \
	CU_PTDS(cuMemcpyDtoD, cuMemcpyDtoD_v2_ptds, 7000, (CUdeviceptr dst, CUdeviceptr src, size_t n), (dst, src, n)) \
	CU(cuMemcpyDtoDAsync, cuMemcpyDtoDAsync_v2, 3020, (CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s), (dst, src, n, s)) \
	CU_PTDS(cuMemcpyDtoDAsync, cuMemcpyDtoDAsync_v2_ptsz, 7000, (CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s), (dst, src, n, s)) \
	CU(cuMemsetD32, cuMemsetD32_v2, 3020, (CUdeviceptr dst, unsigned int v, size_t n), (dst, v, n)) \
	CU_PTDS(cuMemsetD32, cuMemsetD32_v2_ptds, 7000, (CUdeviceptr dst, unsigned int v, size_t n), (dst, v, n)) \
	CU(cuMemsetD8Async, cuMemsetD8Async, 3020, (CUdeviceptr dst, unsigned char v, size_t n, CUstream s), (dst, v, n, s)) \
	CU_PTDS(cuMemsetD8Async, cuMemsetD8Async_ptsz, 7000, (CUdeviceptr dst, unsigned char v, size_t n, CUstream s), (dst, v, n, s)) \
	CU(cuMemsetD32Async, cuMemsetD32Async, 3020, (CUdeviceptr dst, unsigned int v, size_t n, CUstream s), (dst, v, n, s)) \
	CU_PTDS(cuMemsetD32Async, cuMemsetD32Async_ptsz, 7000, (CUdeviceptr dst, unsigned int v, size_t n, CUstream s), (dst, v, n, s)) \
	CU(cuLaunchHostFunc, cuLaunchHostFunc, 10000, (CUstream s, CUhostFn fn, void *data), (s, fn, data)) \
	CU_PTDS(cuLaunchHostFunc, cuLaunchHostFunc_ptsz, 10000, (CUstream s, CUhostFn fn, void *data), (s, fn, data)) \
	CU(cuMemHostAlloc, cuMemHostAlloc, 2020, (void **pp, size_t bytes, unsigned int flags), (pp, bytes, flags)) \
	CU(cuMemFreeHost, cuMemFreeHost, 2000, (void *p), (p)) \
	CU(cuDeviceCanAccessPeer, cuDeviceCanAccessPeer, 4000, (int *can, CUdevice dev, CUdevice peer), (can, dev, peer)) \
	CU(cuCtxEnablePeerAccess, cuCtxEnablePeerAccess, 4000, (CUcontext peer, unsigned int flags), (peer, flags)) \
	CU(cuCtxDisablePeerAccess, cuCtxDisablePeerAccess, 4000, (CUcontext peer), (peer)) \
	CU(cuMemcpyPeer, cuMemcpyPeer, 4000, (CUdeviceptr dst, CUcontext dst_ctx, CUdeviceptr src, CUcontext src_ctx, size_t n), (dst, dst_ctx, src, src_ctx, n)) \
	CU_PTDS(cuMemcpyPeer, cuMemcpyPeer_ptds, 7000, (CUdeviceptr dst, CUcontext dst_ctx, CUdeviceptr src, CUcontext src_ctx, size_t n), (dst, dst_ctx, src, src_ctx, n)) \
	CU(cuMemcpyPeerAsync, cuMemcpyPeerAsync, 4000, (CUdeviceptr dst, CUcontext dst_ctx, CUdeviceptr src, CUcontext src_ctx, size_t n, CUstream s), (dst, dst_ctx, src, src_ctx, n, s)) \
	CU_PTDS(cuMemcpyPeerAsync, cuMemcpyPeerAsync_ptsz, 7000, (CUdeviceptr dst, CUcontext dst_ctx, CUdeviceptr src, CUcontext src_ctx, size_t n, CUstream s), (dst, dst_ctx, src, src_ctx, n, s)) \
	CU(cuMemsetD8, cuMemsetD8_v2, 3020, (CUdeviceptr dst, unsigned char v, size_t n), (dst, v, n)) \
	CU_PTDS(cuMemsetD8, cuMemsetD8_v2_ptds, 7000, (CUdeviceptr dst, unsigned char v, size_t n), (dst, v, n)) \
	CU(cuStreamCreate, cuStreamCreate, 2000, (CUstream *s, unsigned int flags), (s, flags)) \
	CU(cuStreamCreateWithPriority, cuStreamCreateWithPriority, 5050, (CUstream *s, unsigned int flags, int prio), (s, flags, prio)) \
	CU(cuStreamDestroy, cuStreamDestroy_v2, 4000, (CUstream s), (s)) \
	CU(cuStreamSynchronize, cuStreamSynchronize, 2000, (CUstream s), (s)) \
	CU_PTDS(cuStreamSynchronize, cuStreamSynchronize_ptsz, 7000, (CUstream s), (s)) \
	CU(cuStreamIsCapturing, cuStreamIsCapturing, 10000, (CUstream s, int *status), (s, status)) \
	CU_PTDS(cuStreamIsCapturing, cuStreamIsCapturing_ptsz, 10000, (CUstream s, int *status), (s, status)) \
	CU(cuEventCreate, cuEventCreate, 2000, (CUevent *e, unsigned int flags), (e, flags)) \
	CU(cuEventRecord, cuEventRecord, 2000, (CUevent e, CUstream s), (e, s)) \
	CU_PTDS(cuEventRecord, cuEventRecord_ptsz, 7000, (CUevent e, CUstream s), (e, s)) \
	CU(cuEventSynchronize, cuEventSynchronize, 2000, (CUevent e), (e)) \
	CU(cuEventQuery, cuEventQuery, 2000, (CUevent e), (e)) \
	CU(cuEventElapsedTime, cuEventElapsedTime, 2000, (float *ms, CUevent start, CUevent end), (ms, start, end)) \
	CU(cuEventElapsedTime, cuEventElapsedTime_v2, 12080, (float *ms, CUevent start, CUevent end), (ms, start, end)) \
	CU(cuEventDestroy, cuEventDestroy_v2, 4000, (CUevent e), (e)) \
	CU(cuModuleLoadData, cuModuleLoadData, 2000, (CUmodule *m, const void *image), (m, image)) \
	CU(cuModuleGetFunction, cuModuleGetFunction, 2000, (CUfunction *f, CUmodule m, const char *name), (f, m, name)) \
	CU(cuModuleUnload, cuModuleUnload, 2000, (CUmodule m), (m)) \
	CU(cuFuncGetName, cuFuncGetName, 12030, (const char **name, CUfunction f), (name, f)) \
	CU(cuLaunchKernel, cuLaunchKernel, 4000, (CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem, CUstream s, void **params, void **extra), (f, gx, gy, gz, bx, by, bz, shmem, s, params, extra)) \
	CU_PTDS(cuLaunchKernel, cuLaunchKernel_ptsz, 7000, (CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem, CUstream s, void **params, void **extra), (f, gx, gy, gz, bx, by, bz, shmem, s, params, extra)) \
	CU(cuLaunchKernelEx, cuLaunchKernelEx, 11060, (const CUlaunchConfig *cfg, CUfunction f, void **params, void **extra), (cfg, f, params, extra)) \
	CU_PTDS(cuLaunchKernelEx, cuLaunchKernelEx_ptsz, 11060, (const CUlaunchConfig *cfg, CUfunction f, void **params, void **extra), (cfg, f, params, extra)) \
	CU(cuLaunchCooperativeKernel, cuLaunchCooperativeKernel, 9000, (CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem, CUstream s, void **params), (f, gx, gy, gz, bx, by, bz, shmem, s, params)) \
	CU_PTDS(cuLaunchCooperativeKernel, cuLaunchCooperativeKernel_ptsz, 9000, (CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem, CUstream s, void **params), (f, gx, gy, gz, bx, by, bz, shmem, s, params)) \
	CU(cuGraphLaunch, cuGraphLaunch, 10000, (CUgraphExec g, CUstream s), (g, s)) \
	CU_PTDS(cuGraphLaunch, cuGraphLaunch_ptsz, 10000, (CUgraphExec g, CUstream s), (g, s)) \
	CU(cuOccupancyMaxActiveBlocksPerMultiprocessor, cuOccupancyMaxActiveBlocksPerMultiprocessor, 6050, (int *n, CUfunction f, int block, size_t shmem), (n, f, block, shmem)) \
	CU(cuGetExportTable, cuGetExportTable, 3000, (const void **table, const CUuuid *id), (table, id)) \
	CU(cuGetErrorString, cuGetErrorString, 6000, (CUresult e, const char **s), (e, s)) \
	CU(cuGetErrorName, cuGetErrorName, 6000, (CUresult e, const char **s), (e, s))

typedef CUresult (*gs_cuGetProcAddress_v2_t)(const char *symbol, void **pfn, int version, cuuint64_t flags,
					      CUdriverProcAddressQueryResult *status);
typedef CUresult (*gs_cuGetProcAddress_t)(const char *symbol, void **pfn, int version, cuuint64_t flags);

#endif
