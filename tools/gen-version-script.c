/* gen-version-script.c: prints libgpushare.so's linker version script from
 * the one list of wrapped driver functions: those, the lookups and NVML's
 * memory queries are exported, nothing else. */
#include "gs-cuda.h"

#include <stdio.h>

#define NAME(base, sym, ver, params, args) "\t\t" #sym ";\n"

int main(void)
{
	fputs("{\n\tglobal:\n\t\tdlsym;\n\t\tcuGetProcAddress;\n\t\tcuGetProcAddress_v2;\n"
	      "\t\tnvmlDeviceGetMemoryInfo;\n\t\tnvmlDeviceGetMemoryInfo_v2;\n\t\tnvmlDeviceGetComputeRunningProcesses_v3;\n\t\tnvmlDeviceGetAttributes_v2;\n", stdout);
	fputs(GS_CUDA_API(NAME, NAME), stdout);
	fputs("\tlocal:\n\t\t*;\n};\n", stdout);
	return 0;
}
