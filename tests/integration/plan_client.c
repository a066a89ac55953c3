/* plan_client.c - a placement engine in miniature, built by install_lib.sh
 * against the installed libvmsplan through pkg-config: two VMs that share a
 * lot and one that shares nothing, two targets with two slots each. The
 * sharers must end up together. */
#include <stdio.h>
#include <vmscatter/plan.h>

int main(void)
{
	vmsplan_problem *p = NULL;
	vmsplan_plan *plan = NULL;
	vmsplan_error err = { 0 };
	struct vmsplan_options o;
	unsigned ab[2] = { 0, 1 }, a[1] = { 0 }, b[1] = { 1 }, c[1] = { 2 };
	if (vmsplan_problem_new(&p, &err) < 0 ||
	    vmsplan_add_vm(p, "web1", 1000, 100, &err) < 0 ||
	    vmsplan_add_vm(p, "web2", 1000, 100, &err) < 0 ||
	    vmsplan_add_vm(p, "db", 1000, 100, &err) < 0 ||
	    vmsplan_add_class(p, ab, 2, 700, 1400, &err) < 0 ||
	    vmsplan_add_class(p, a, 1, 200, 200, &err) < 0 ||
	    vmsplan_add_class(p, b, 1, 200, 200, &err) < 0 ||
	    vmsplan_add_class(p, c, 1, 900, 900, &err) < 0 ||
	    vmsplan_add_target(p, "east", 2, 0, &err) < 0 ||
	    vmsplan_add_target(p, "west", 2, 0, &err) < 0) {
		fprintf(stderr, "plan_client: %s\n", err.msg);
		return 1;
	}
	vmsplan_options_init(&o);
	if (vmsplan_solve(p, &o, &plan, &err) < 0) {
		fprintf(stderr, "plan_client: %s\n", err.msg);
		return 1;
	}
	struct vmsplan_traffic t;
	vmsplan_plan_traffic(plan, &t);
	int together = vmsplan_plan_target(plan, 0) == vmsplan_plan_target(plan, 1);
	printf("web1 -> %s, web2 -> %s, db -> %s; network %llu bytes\n",
	       vmsplan_target_name(p, vmsplan_plan_target(plan, 0)),
	       vmsplan_target_name(p, vmsplan_plan_target(plan, 1)),
	       vmsplan_target_name(p, vmsplan_plan_target(plan, 2)),
	       (unsigned long long)t.network_bytes);
	vmsplan_plan_free(plan);
	vmsplan_problem_free(p);
	return together ? 0 : 1;
}
