/* nvidia-uvm.c: stand-in for nvidia-uvm.ko: /dev/nvidia-uvm on a dynamic major (like the real one), depends on nvidia.
 * `exit_block_s` makes its exit block in the kernel, as a real module stuck on hardware does. */
#include <linux/module.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/cdev.h>
#include "nv-stand-in.h"

static dev_t uvm_dev;

/* Writable, so a scenario can arm it on a loaded module too; modprobe.d `options nvidia_uvm exit_block_s=60` sets it
 * at load. */
static unsigned int exit_block_s;
module_param(exit_block_s, uint, 0644);
MODULE_PARM_DESC(exit_block_s, "Lab only: seconds the module's exit sleeps uninterruptibly (D state) before returning");
static struct cdev uvm_cdev;

static int uvm_open(struct inode *inode, struct file *file)
{
	return 0;
}

static const struct file_operations uvm_fops = {
	.owner = THIS_MODULE,
	.open = uvm_open,
};

static int __init uvm_init(void)
{
	int ret;

	nv_stand_in_stamp_load();
	/* The call makes nvidia a dependency in modules.dep and a holder reference, as with the real module. */
	pr_info("nvidia-uvm: stand-in %s loaded on nvidia %s\n", NV_VERSION_STRING, nv_stand_in_version());
	ret = alloc_chrdev_region(&uvm_dev, 0, 1, "nvidia-uvm");
	if (ret)
		return ret;
	cdev_init(&uvm_cdev, &uvm_fops);
	uvm_cdev.owner = THIS_MODULE;
	ret = cdev_add(&uvm_cdev, uvm_dev, 1);
	if (ret)
		unregister_chrdev_region(uvm_dev, 1);
	return ret;
}

static void __exit uvm_exit(void)
{
	/* msleep sleeps in TASK_UNINTERRUPTIBLE: the `modprobe -r` / `rmmod` in delete_module() is in D state and no
	 * signal, SIGKILL included, ends it before the sleep does. */
	if (exit_block_s) {
		pr_info("nvidia-uvm: exit blocks for %u s (lab exit_block_s)\n", exit_block_s);
		msleep(exit_block_s * 1000);
	}
	cdev_del(&uvm_cdev);
	unregister_chrdev_region(uvm_dev, 1);
}

module_init(uvm_init);
module_exit(uvm_exit);
MODULE_LICENSE("Dual MIT/GPL");
MODULE_VERSION(NV_VERSION_STRING);
MODULE_DESCRIPTION("Lab stand-in for nvidia-uvm");
