/* nvidia-drm.c: stand-in for nvidia-drm.ko: depends on nvidia-modeset (refusing another version), with `modeset` and
 * `fbdev` parameters like the real one and `pin`, which holds a reference on itself with no process behind it (like
 * fbcon on a real console), so it cannot be removed until reboot. */
#include <linux/module.h>
#include <linux/string.h>
#include "nv-stand-in.h"

static bool modeset;
module_param(modeset, bool, 0400);
MODULE_PARM_DESC(modeset, "Enable atomic kernel modesetting (accepted, no effect in the stand-in)");

static bool fbdev;
module_param(fbdev, bool, 0400);
MODULE_PARM_DESC(fbdev, "Create a framebuffer device (accepted, no effect in the stand-in)");

static bool pin;
module_param(pin, bool, 0400);
MODULE_PARM_DESC(pin, "Lab only: keep a reference on this module, as fbcon does, so it cannot be unloaded");

static int __init nvdrm_init(void)
{
	const char *kms = nvkms_stand_in_version();

	nv_stand_in_stamp_load();
	if (strcmp(kms, NV_VERSION_STRING) != 0) {
		pr_err("nvidia-drm: Version mismatch: nvidia-modeset.ko(%s) nvidia-drm.ko(%s)\n", kms, NV_VERSION_STRING);
		return -EINVAL;
	}
	if (pin) {
		__module_get(THIS_MODULE);
		pr_info("nvidia-drm: pinned (lab): this module stays until reboot\n");
	}
	return 0;
}

static void __exit nvdrm_exit(void)
{
}

module_init(nvdrm_init);
module_exit(nvdrm_exit);
MODULE_LICENSE("Dual MIT/GPL");
MODULE_VERSION(NV_VERSION_STRING);
MODULE_DESCRIPTION("Lab stand-in for nvidia-drm");
