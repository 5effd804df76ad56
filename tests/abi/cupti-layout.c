/* cupti-layout.c: prints the CUPTI layouts and values gpushare declares
 * itself (gs-cupti.h). Built once against NVIDIA's cupti.h and once against
 * gs-cupti.h; the outputs must be identical (tests/shell/test-abi.sh). */
#include <stddef.h>
#include <stdio.h>
#ifdef USE_GS
#include "gs-cupti.h"
#define KERNEL gs_cupti_kernel
#else
#include <cupti.h>
#include "gs-cupti-launches.h"
#define KERNEL CUpti_ActivityKernel10
#endif

#define SIZE(t) printf("sizeof %s = %zu\n", #t, sizeof(t))
#define OFF(t, f) printf("offsetof %s.%s = %zu\n", #t, #f, offsetof(t, f))
#define VAL(v) printf("%s = %ld\n", #v, (long)(v))

int main(void)
{
	OFF(KERNEL, kind);
	OFF(KERNEL, start);
	OFF(KERNEL, end);
	OFF(KERNEL, deviceId);
	OFF(KERNEL, contextId);
	OFF(KERNEL, streamId);
	OFF(KERNEL, gridX);
	OFF(KERNEL, blockZ);
	OFF(KERNEL, correlationId);
	OFF(KERNEL, gridId);
	OFF(KERNEL, name);
	SIZE(CUpti_CallbackData);
	OFF(CUpti_CallbackData, callbackSite);
	OFF(CUpti_CallbackData, context);
	OFF(CUpti_CallbackData, correlationId);
	SIZE(CUpti_Activity);
	VAL(CUPTI_SUCCESS);
	VAL(CUPTI_ERROR_INVALID_PARAMETER);
	VAL(CUPTI_ERROR_MAX_LIMIT_REACHED);
	VAL(CUPTI_ERROR_NOT_INITIALIZED);
	VAL(CUPTI_ERROR_INVALID_KIND);
	VAL(CUPTI_ERROR_NOT_SUPPORTED);
	VAL(CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED);
	VAL(CUPTI_ERROR_UNKNOWN);
	VAL(CUPTI_ACTIVITY_KIND_KERNEL);
	VAL(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
	VAL(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
	VAL(CUPTI_CB_DOMAIN_DRIVER_API);
	VAL(CUPTI_CB_DOMAIN_RUNTIME_API);
	VAL(CUPTI_API_ENTER);
	VAL(CUPTI_API_EXIT);
	/* the launches' callback ids, each by its name in NVIDIA's headers */
#ifdef USE_GS
#define DRV(name, id) printf("CUPTI_DRIVER_TRACE_CBID_%s = %d\n", #name, id);
#define RT(name, id) printf("CUPTI_RUNTIME_TRACE_CBID_%s = %d\n", #name, id);
#else
#define DRV(name, id) printf("CUPTI_DRIVER_TRACE_CBID_%s = %d\n", #name, (int)CUPTI_DRIVER_TRACE_CBID_##name);
#define RT(name, id) printf("CUPTI_RUNTIME_TRACE_CBID_%s = %d\n", #name, (int)CUPTI_RUNTIME_TRACE_CBID_##name);
#endif
	GS_CUPTI_DRIVER_LAUNCHES(DRV)
	GS_CUPTI_RUNTIME_LAUNCHES(RT)
	return 0;
}
