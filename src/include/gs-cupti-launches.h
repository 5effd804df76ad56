/* gs-cupti-launches.h: the CUPTI callback ids of the launches a trace's
 * CUPTI backend follows, apart from gs-cupti.h's types so that
 * tests/abi/cupti-layout.c can check them against NVIDIA's names. */
#ifndef GS_CUPTI_LAUNCHES_H
#define GS_CUPTI_LAUNCHES_H

/* The launches whose API callbacks carry a kernel's correlation id
 * (cupti_driver_cbid.h, cupti_runtime_cbid.h; graph launches are not
 * traced). A kernel's record carries the id of the outermost API call that
 * launched it (the runtime's for cudaLaunchKernel, in CUPTI's own samples),
 * so a trace keeps both ids a launch was given, runtime and driver. */
#define GS_CUPTI_DRIVER_LAUNCHES(X) \
	X(cuLaunchKernel, 307) \
	X(cuLaunchKernel_ptsz, 442) \
	X(cuLaunchCooperativeKernel, 477) \
	X(cuLaunchCooperativeKernel_ptsz, 478) \
	X(cuLaunchKernelEx, 652) \
	X(cuLaunchKernelEx_ptsz, 653)
#define GS_CUPTI_RUNTIME_LAUNCHES(X) \
	X(cudaLaunch_v3020, 13) \
	X(cudaLaunchKernel_v7000, 211) \
	X(cudaLaunch_ptsz_v7000, 213) \
	X(cudaLaunchKernel_ptsz_v7000, 214) \
	X(cudaLaunchCooperativeKernel_v9000, 269) \
	X(cudaLaunchCooperativeKernel_ptsz_v9000, 270) \
	X(cudaLaunchCooperativeKernelMultiDevice_v9000, 272) \
	X(cudaLaunchKernelExC_v11060, 430) \
	X(cudaLaunchKernelExC_ptsz_v11060, 431) \
	X(__cudaLaunchKernel_v13000, 505) \
	X(__cudaLaunchKernel_ptsz_v13000, 506)

#endif
