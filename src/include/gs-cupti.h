/* gs-cupti.h: the part of CUPTI's C ABI (cupti.h, CUDA 12/13) a trace's
 * CUPTI backend uses, declared here so that gpushare builds without the
 * toolkit: the interposer loads libcupti with dlopen where it exists.
 * Layouts and values are checked against the toolkit's headers by
 * tests/abi/cupti-layout.c (tests/shell/test-abi.sh) where they exist. */
#ifndef GS_CUPTI_H
#define GS_CUPTI_H

#include <stddef.h>
#include <stdint.h>

#include "gs-cuda.h"
#include "gs-cupti-launches.h"

typedef int CUptiResult;
enum {
	CUPTI_SUCCESS = 0,
	CUPTI_ERROR_INVALID_PARAMETER = 1,
	CUPTI_ERROR_MAX_LIMIT_REACHED = 12,
	CUPTI_ERROR_NOT_INITIALIZED = 15,
	CUPTI_ERROR_INVALID_KIND = 21,
	CUPTI_ERROR_NOT_SUPPORTED = 27,
	CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED = 39,
	CUPTI_ERROR_UNKNOWN = 999,
};

typedef int CUpti_ActivityKind;
enum {
	CUPTI_ACTIVITY_KIND_KERNEL = 3,
	CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL = 10,
};
/* cuptiActivityFlushAll's flag: deliver buffers with records not complete yet */
#define CUPTI_ACTIVITY_FLAG_FLUSH_FORCED 1u

typedef int CUpti_CallbackDomain;
typedef uint32_t CUpti_CallbackId;
enum {
	CUPTI_CB_DOMAIN_DRIVER_API = 1,
	CUPTI_CB_DOMAIN_RUNTIME_API = 2,
};
enum {
	CUPTI_API_ENTER = 0,
	CUPTI_API_EXIT = 1,
};

/* What an API callback is given (CUpti_CallbackData), up to the field
 * gpushare reads. */
typedef struct {
	int callbackSite;            /* CUPTI_API_ENTER or CUPTI_API_EXIT */
	const char *functionName;
	const void *functionParams;
	void *functionReturnValue;
	const char *symbolName;
	CUcontext context;
	uint32_t contextUid;
	uint64_t *correlationData;
	uint32_t correlationId;
} CUpti_CallbackData;

typedef struct CUpti_Subscriber_st *CUpti_SubscriberHandle;
typedef void (*CUpti_CallbackFunc)(void *userdata, CUpti_CallbackDomain domain, CUpti_CallbackId cbid,
				   const void *cbdata);
typedef void (*CUpti_BuffersCallbackRequestFunc)(uint8_t **buffer, size_t *size, size_t *maxNumRecords);
typedef void (*CUpti_BuffersCallbackCompleteFunc)(CUcontext context, uint32_t streamId, uint8_t *buffer,
						  size_t size, size_t validSize);

/* Every activity record starts with its kind. */
typedef struct __attribute__((aligned(8))) {
	CUpti_ActivityKind kind;
} CUpti_Activity;

/* A kernel's record (CUpti_ActivityKernel4 to CUpti_ActivityKernel10 all
 * begin so; CUPTI writes the newest it knows), up to its name. Timestamps
 * are ns of CUPTI's clock (cuptiGetTimestamp); 0 when none was taken. */
typedef struct __attribute__((packed, aligned(8))) {
	CUpti_ActivityKind kind;
	uint8_t cacheConfig;
	uint8_t sharedMemoryConfig;
	uint16_t registersPerThread;
	int partitionedGlobalCacheRequested;
	int partitionedGlobalCacheExecuted;
	uint64_t start;
	uint64_t end;
	uint64_t completed;
	uint32_t deviceId;
	uint32_t contextId;
	uint32_t streamId;
	int32_t gridX, gridY, gridZ;
	int32_t blockX, blockY, blockZ;
	int32_t staticSharedMemory;
	int32_t dynamicSharedMemory;
	uint32_t localMemoryPerThread;
	uint32_t localMemoryTotal;
	uint32_t correlationId;
	int64_t gridId;
	const char *name;
} gs_cupti_kernel;

/* Every CUPTI function gpushare calls, once: X(return type, name,
 * parameters). The interposer looks each up in the libcupti it loads; the
 * simulated CUPTI (src/sim/cupti-sim.c) implements each. */
#define GS_CUPTI_API(X) \
	X(CUptiResult, cuptiGetTimestamp, (uint64_t *timestamp)) \
	X(CUptiResult, cuptiActivityRegisterCallbacks, (CUpti_BuffersCallbackRequestFunc requested, CUpti_BuffersCallbackCompleteFunc completed)) \
	X(CUptiResult, cuptiActivityEnable, (CUpti_ActivityKind kind)) \
	X(CUptiResult, cuptiActivityDisable, (CUpti_ActivityKind kind)) \
	X(CUptiResult, cuptiActivityGetNextRecord, (uint8_t *buffer, size_t valid, CUpti_Activity **record)) \
	X(CUptiResult, cuptiActivityFlushAll, (uint32_t flag)) \
	X(CUptiResult, cuptiActivityGetNumDroppedRecords, (CUcontext context, uint32_t streamId, size_t *dropped)) \
	X(CUptiResult, cuptiSubscribe, (CUpti_SubscriberHandle *subscriber, CUpti_CallbackFunc callback, void *userdata)) \
	X(CUptiResult, cuptiUnsubscribe, (CUpti_SubscriberHandle subscriber)) \
	X(CUptiResult, cuptiEnableCallback, (uint32_t enable, CUpti_SubscriberHandle subscriber, CUpti_CallbackDomain domain, CUpti_CallbackId cbid)) \
	X(CUptiResult, cuptiGetResultString, (CUptiResult result, const char **str))

#endif
