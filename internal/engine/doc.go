// Package engine is memrelief's main loop: it discovers the cgroups the
// policy matches, samples their memory and pressure, decides per cgroup
// which level it is at (Step, a pure function), carries out the level's
// actions through package action, and hands every level change and action
// outcome to the reporters.
package engine
