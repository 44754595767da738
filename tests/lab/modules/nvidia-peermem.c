/* nvidia-peermem.c: stand-in for nvidia-peermem.ko: one more holder of nvidia that fixed unload lists forget. */
#include <linux/module.h>
#include "nv-stand-in.h"

static int __init peermem_init(void)
{
	nv_stand_in_stamp_load();
	pr_info("nvidia-peermem: stand-in %s loaded on nvidia %s\n", NV_VERSION_STRING, nv_stand_in_version());
	return 0;
}

static void __exit peermem_exit(void)
{
}

module_init(peermem_init);
module_exit(peermem_exit);
MODULE_LICENSE("Dual MIT/GPL");
MODULE_VERSION(NV_VERSION_STRING);
MODULE_DESCRIPTION("Lab stand-in for nvidia-peermem");
