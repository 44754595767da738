/* nvidia.c: stand-in for NVIDIA's nvidia.ko: /proc/driver/nvidia/version, /dev/nvidiactl + /dev/nvidia0 on major 195,
 * the NV_ESC_CHECK_VERSION_STR version-check ioctl with the real API-mismatch log text, and an exported symbol that the
 * upper modules use (so kmod sees them depend on nvidia). Built once per driver version. */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/fs.h>
#include <linux/cdev.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>
#include <linux/sched.h>
#include <linux/string.h>
#include "nv-stand-in.h"

/* Only minors 0 (nvidia0) and 255 (nvidiactl) are ours; 254 belongs to the stand-in nvidia-modeset. */
static struct cdev nv_gpu_cdev;
static struct cdev nv_ctl_cdev;
static struct proc_dir_entry *nv_proc_dir;

const char *nv_stand_in_version(void)
{
	return NV_VERSION_STRING;
}
EXPORT_SYMBOL(nv_stand_in_version);

static int nv_version_show(struct seq_file *m, void *v)
{
	/* Same layout as the proprietary driver: two spaces between fields. */
	seq_printf(m, "NVRM version: NVIDIA UNIX x86_64 Kernel Module  %s  %s\n", NV_VERSION_STRING, NV_BUILD_DATE);
	seq_printf(m, "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14+deb12u1) \n");
	return 0;
}

static int nv_check_version(struct file *file, void __user *arg)
{
	struct nv_ioctl_rm_api_version params;

	if (copy_from_user(&params, arg, sizeof(params)))
		return -EFAULT;
	params.versionString[sizeof(params.versionString) - 1] = '\0';
	params.reply = NV_RM_API_VERSION_REPLY_RECOGNIZED;

	if (params.cmd == NV_RM_API_VERSION_CMD_QUERY) {
		strscpy(params.versionString, NV_VERSION_STRING, sizeof(params.versionString));
		return copy_to_user(arg, &params, sizeof(params)) ? -EFAULT : 0;
	}

	/* Strict and relaxed both compare the whole string here: the lab wants every mismatch to show. */
	if (strcmp(params.versionString, NV_VERSION_STRING) == 0)
		return copy_to_user(arg, &params, sizeof(params)) ? -EFAULT : 0;

	/* The 575+ wording, naming the client. */
	pr_info("NVRM: API mismatch: the client '%s' (pid %d)\n", current->comm, task_tgid_nr(current));
	pr_info("NVRM: has the version %s, but this kernel module has\n", params.versionString);
	pr_info("NVRM: the version %s.  Please make sure that this\n", NV_VERSION_STRING);
	pr_info("NVRM: kernel module and all NVIDIA driver components\n");
	pr_info("NVRM: have the same version.\n");
	strscpy(params.versionString, NV_VERSION_STRING, sizeof(params.versionString));
	if (copy_to_user(arg, &params, sizeof(params)))
		return -EFAULT;
	return -EINVAL;
}

static long nv_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	unsigned int minor = iminor(file_inode(file));

	if (_IOC_TYPE(cmd) != NV_IOCTL_MAGIC)
		return -ENOTTY;
	if (_IOC_NR(cmd) == NV_ESC_CHECK_VERSION_STR) {
		if (minor != NV_CTL_MINOR || _IOC_SIZE(cmd) != sizeof(struct nv_ioctl_rm_api_version))
			return -EINVAL;
		return nv_check_version(file, (void __user *)arg);
	}
	/* Everything else would touch hardware: there is none. */
	return -EINVAL;
}

static int nv_open(struct inode *inode, struct file *file)
{
	return 0;
}

static int nv_release(struct inode *inode, struct file *file)
{
	return 0;
}

/* owner = THIS_MODULE on both the cdev and the fops: each open file pins the module twice, like the real driver. */
static const struct file_operations nv_fops = {
	.owner = THIS_MODULE,
	.open = nv_open,
	.release = nv_release,
	.unlocked_ioctl = nv_ioctl,
	.compat_ioctl = nv_ioctl,
};

static int __init nv_init(void)
{
	int ret;

	nv_stand_in_stamp_load();
	ret = register_chrdev_region(MKDEV(NV_MAJOR_DEVICE_NUMBER, 0), 1, "nvidia");
	if (ret)
		return ret;
	ret = register_chrdev_region(MKDEV(NV_MAJOR_DEVICE_NUMBER, NV_CTL_MINOR), 1, "nvidiactl");
	if (ret)
		goto out_gpu_region;

	cdev_init(&nv_gpu_cdev, &nv_fops);
	nv_gpu_cdev.owner = THIS_MODULE;
	ret = cdev_add(&nv_gpu_cdev, MKDEV(NV_MAJOR_DEVICE_NUMBER, 0), 1);
	if (ret)
		goto out_ctl_region;
	cdev_init(&nv_ctl_cdev, &nv_fops);
	nv_ctl_cdev.owner = THIS_MODULE;
	ret = cdev_add(&nv_ctl_cdev, MKDEV(NV_MAJOR_DEVICE_NUMBER, NV_CTL_MINOR), 1);
	if (ret)
		goto out_gpu_cdev;

	nv_proc_dir = proc_mkdir("driver/nvidia", NULL);
	if (!nv_proc_dir || !proc_create_single("version", 0444, nv_proc_dir, nv_version_show)) {
		ret = -ENOMEM;
		goto out_proc;
	}
	pr_info("nvidia: loading stand-in NVIDIA UNIX x86_64 Kernel Module  %s\n", NV_VERSION_STRING);
	return 0;

out_proc:
	proc_remove(nv_proc_dir);
	cdev_del(&nv_ctl_cdev);
out_gpu_cdev:
	cdev_del(&nv_gpu_cdev);
out_ctl_region:
	unregister_chrdev_region(MKDEV(NV_MAJOR_DEVICE_NUMBER, NV_CTL_MINOR), 1);
out_gpu_region:
	unregister_chrdev_region(MKDEV(NV_MAJOR_DEVICE_NUMBER, 0), 1);
	return ret;
}

static void __exit nv_exit(void)
{
	proc_remove(nv_proc_dir);
	cdev_del(&nv_ctl_cdev);
	cdev_del(&nv_gpu_cdev);
	unregister_chrdev_region(MKDEV(NV_MAJOR_DEVICE_NUMBER, NV_CTL_MINOR), 1);
	unregister_chrdev_region(MKDEV(NV_MAJOR_DEVICE_NUMBER, 0), 1);
}

module_init(nv_init);
module_exit(nv_exit);
/* The proprietary driver's license string: taints the kernel (P) and keeps GPL-only symbols out of reach. */
MODULE_LICENSE("NVIDIA");
MODULE_VERSION(NV_VERSION_STRING);
MODULE_DESCRIPTION("Lab stand-in for the NVIDIA kernel module");
/* Opening a 195:* node with no driver loaded auto-loads this module, as NVML does on real hosts. */
MODULE_ALIAS_CHARDEV_MAJOR(NV_MAJOR_DEVICE_NUMBER);
/* The GSP firmware the real driver (R525+) lists and loads when a GPU initialises; Ubuntu ships it per version under
 * /lib/firmware/nvidia/<version>/ (nvidia-firmware-*). The stand-in has no GPU to initialise and never requests it,
 * but lists it like the real one, so `modinfo -F firmware` shows what a host must have. */
MODULE_FIRMWARE("nvidia/" NV_VERSION_STRING "/gsp_ga10x.bin");
MODULE_FIRMWARE("nvidia/" NV_VERSION_STRING "/gsp_tu10x.bin");

#ifdef NV_FOREIGN_KERNEL_RELEASE
/* The lab's "built for another kernel" variant (make NV_FOREIGN_KERNEL=<release>): the vermagic of Debian's PREEMPT_RT
 * flavour. This entry comes before the one modpost adds in nvidia.mod.c, and the kernel reads the first. Only the
 * release would not do: with CONFIG_MODVERSIONS the kernel skips the release and compares the flags, so the flags
 * differ too (preempt_rt), and the kernel refuses it: "Invalid module format", dmesg "version magic". */
MODULE_INFO(vermagic, NV_FOREIGN_KERNEL_RELEASE " SMP preempt_rt mod_unload modversions ");
#endif
