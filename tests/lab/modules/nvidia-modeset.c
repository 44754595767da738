/* nvidia-modeset.c: stand-in for nvidia-modeset.ko: /dev/nvidia-modeset (195:254), depends on nvidia, and refuses an
 * nvidia.ko of another version with the real driver's message, so a new upper stack cannot go on an old base. */
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/cdev.h>
#include <linux/string.h>
#include "nv-stand-in.h"

static struct cdev nvkms_cdev;

const char *nvkms_stand_in_version(void)
{
	return NV_VERSION_STRING;
}
EXPORT_SYMBOL(nvkms_stand_in_version);

static int nvkms_open(struct inode *inode, struct file *file)
{
	return 0;
}

static const struct file_operations nvkms_fops = {
	.owner = THIS_MODULE,
	.open = nvkms_open,
};

static int __init nvkms_init(void)
{
	const char *base = nv_stand_in_version();
	int ret;

	nv_stand_in_stamp_load();
	if (strcmp(base, NV_VERSION_STRING) != 0) {
		pr_err("nvidia-modeset: Version mismatch: nvidia.ko(%s) nvidia-modeset.ko(%s)\n", base, NV_VERSION_STRING);
		return -EINVAL;
	}
	ret = register_chrdev_region(MKDEV(NV_MAJOR_DEVICE_NUMBER, NV_MODESET_MINOR), 1, "nvidia-modeset");
	if (ret)
		return ret;
	cdev_init(&nvkms_cdev, &nvkms_fops);
	nvkms_cdev.owner = THIS_MODULE;
	ret = cdev_add(&nvkms_cdev, MKDEV(NV_MAJOR_DEVICE_NUMBER, NV_MODESET_MINOR), 1);
	if (ret)
		unregister_chrdev_region(MKDEV(NV_MAJOR_DEVICE_NUMBER, NV_MODESET_MINOR), 1);
	return ret;
}

static void __exit nvkms_exit(void)
{
	cdev_del(&nvkms_cdev);
	unregister_chrdev_region(MKDEV(NV_MAJOR_DEVICE_NUMBER, NV_MODESET_MINOR), 1);
}

module_init(nvkms_init);
module_exit(nvkms_exit);
MODULE_LICENSE("NVIDIA");
MODULE_VERSION(NV_VERSION_STRING);
MODULE_DESCRIPTION("Lab stand-in for nvidia-modeset");
