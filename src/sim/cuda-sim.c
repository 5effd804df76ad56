/* cuda-sim.c: placeholder until the simulated driver API lands. */
#define EXPORT __attribute__((visibility("default")))
EXPORT extern const int gpushare_simulated;
const int gpushare_simulated = 1;
