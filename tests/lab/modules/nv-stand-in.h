/* nv-stand-in.h: shared definitions of the lab's stand-in NVIDIA kernel modules (version, char-device numbers, ioctl). */
#ifndef NV_STAND_IN_H
#define NV_STAND_IN_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/version.h>
#include <linux/moduleparam.h>
#include <linux/random.h>

/* The build passes the driver version (make NV_VERSION=580.95.05); each version is a separate build. */
#ifndef NV_VERSION_STRING
#error "build with NV_VERSION=<driver version>"
#endif
#ifndef NV_BUILD_DATE
#define NV_BUILD_DATE "Thu Jan  1 00:00:00 UTC 2025"
#endif

/*
 * load_stamp (read-only parameter, /sys/module/<name>/parameters/load_stamp): a random number drawn when the module is
 * loaded, so the lab can tell "still the same load" from "unloaded and loaded again" (lib.sh lab_stack_stamps). Random,
 * not a clock: the boot-time clock is GPL-only, and nvidia.ko is not GPL. Every stand-in includes this header once.
 */
static unsigned long long load_stamp;
module_param(load_stamp, ullong, 0444);
MODULE_PARM_DESC(load_stamp, "Lab only: a random number drawn at load, different for each load");

static inline void nv_stand_in_stamp_load(void)
{
	load_stamp = get_random_u64();
}

/* The real driver owns char major 195: nvidia0.. at minors 0.., nvidia-modeset at 254, nvidiactl at 255. */
#define NV_MAJOR_DEVICE_NUMBER 195
#define NV_MODESET_MINOR 254
#define NV_CTL_MINOR 255

/* NV_ESC_CHECK_VERSION_STR: _IOWR('F', 0xD2, struct nv_ioctl_rm_api_version) = 0xC04846D2, /dev/nvidiactl only. */
#define NV_IOCTL_MAGIC 'F'
#define NV_ESC_CHECK_VERSION_STR 0xD2
#define NV_RM_API_VERSION_CMD_STRICT 0
#define NV_RM_API_VERSION_CMD_RELAXED '1'
#define NV_RM_API_VERSION_CMD_QUERY '2'
#define NV_RM_API_VERSION_REPLY_UNRECOGNIZED 0
#define NV_RM_API_VERSION_REPLY_RECOGNIZED 1

struct nv_ioctl_rm_api_version {
	__u32 cmd;
	__u32 reply;
	char versionString[64];
};

/* Exported by nvidia.ko: the loaded base module's version (the upper modules refuse another one). */
const char *nv_stand_in_version(void);
/* Exported by nvidia-modeset.ko: its version, checked by nvidia-drm.ko. */
const char *nvkms_stand_in_version(void);

#endif
