/* nv-stand-in.h: shared definitions of the lab's stand-in NVIDIA kernel modules (version, char-device numbers, ioctl). */
#ifndef NV_STAND_IN_H
#define NV_STAND_IN_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/version.h>

/* The build passes the driver version (make NV_VERSION=580.95.05); each version is a separate build. */
#ifndef NV_VERSION_STRING
#error "build with NV_VERSION=<driver version>"
#endif
#ifndef NV_BUILD_DATE
#define NV_BUILD_DATE "Thu Jan  1 00:00:00 UTC 2025"
#endif

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
